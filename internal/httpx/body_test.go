package httpx

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// endless yields an unbounded JSON tag list and counts what it handed out.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = `"1.0.0",`[int(e.n+int64(i))%8]
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadAll(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		limit   int64
		wantErr bool
	}{
		{"empty", "", 4, false},
		{"under", "abc", 4, false},
		{"exactly the limit", "abcd", 4, false},
		{"one byte over", "abcde", 4, true},
		{"far over", strings.Repeat("x", 1<<16), 1 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadAll(strings.NewReader(tc.body), "test source", tc.limit)
			if tc.wantErr {
				var tl *TooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, ErrBodyTooLarge) || tl.Limit != tc.limit || tl.Source != "test source" {
					t.Fatalf("err = %v, want a *TooLargeError for test source at %d", err, tc.limit)
				}
				return
			}
			if err != nil || string(got) != tc.body {
				t.Fatalf("ReadAll = %q, %v; want %q", got, err, tc.body)
			}
		})
	}
}

// An endless body is cut at the limit: the reader never takes more than
// the limit plus one byte from the source, whatever the buffer size.
func TestReadAllEndless(t *testing.T) {
	src := &endless{}
	const limit = 4 << 20
	_, err := ReadAll(src, "registry 127.0.0.1:5000 tag list for shop/checkout", limit)
	want := "registry 127.0.0.1:5000 tag list for shop/checkout: body exceeds 4 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if src.n > limit+1 {
		t.Errorf("read %d bytes from the source, want at most %d", src.n, limit+1)
	}
}

func TestLimitReaderSmallReads(t *testing.T) {
	r := LimitReader(bytes.NewReader([]byte("0123456789")), "s", 6)
	buf := make([]byte, 4)
	var got []byte
	var err error
	for err == nil {
		var n int
		n, err = r.Read(buf)
		got = append(got, buf[:n]...)
	}
	if !errors.Is(err, ErrBodyTooLarge) || string(got) != "012345" {
		t.Fatalf("got %q, %v; want the first 6 bytes then ErrBodyTooLarge", got, err)
	}
	// The error sticks.
	if n, err2 := r.Read(buf); n != 0 || !errors.Is(err2, ErrBodyTooLarge) {
		t.Fatalf("second read after the limit: %d, %v", n, err2)
	}
}

func TestReadResponseContentLength(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 100))
	}))
	defer srv.Close()
	for _, tc := range []struct {
		limit   int64
		wantErr bool
	}{{100, false}, {99, true}} {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadResponse(resp, "srv", tc.limit)
		if (err != nil) != tc.wantErr || (!tc.wantErr && len(b) != 100) {
			t.Errorf("limit %d: %d bytes, %v; want error %v", tc.limit, len(b), err, tc.wantErr)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:             "0 bytes",
		100:           "100 bytes",
		1 << 10:       "1 KiB",
		512 << 10:     "512 KiB",
		4 << 20:       "4 MiB",
		16 << 20:      "16 MiB",
		1<<20 + 1:     "1048577 bytes",
		2 << 30:       "2 GiB",
		3<<20 + 1<<19: "3584 KiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
