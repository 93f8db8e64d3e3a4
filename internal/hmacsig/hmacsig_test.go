package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	secret = []byte("s3cret")
	body   = []byte(`{"events":[]}`)
	now    = time.Unix(1_800_000_000, 0)
)

// TestSignedString pins the documented signed content with an HMAC
// computed independently: "<ts>.<body>", or the body alone.
func TestSignedString(t *testing.T) {
	ref := func(s string) string {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(s))
		return "sha256=" + hex.EncodeToString(m.Sum(nil))
	}
	if got, want := Sign(secret, body, 0), ref(string(body)); got != want {
		t.Errorf("Sign without timestamp = %s, want %s", got, want)
	}
	if got, want := Sign(secret, body, now.Unix()), ref("1800000000."+string(body)); got != want {
		t.Errorf("Sign with timestamp = %s, want %s", got, want)
	}
	if got := Timestamp(now); got != "1800000000" {
		t.Errorf("Timestamp = %s", got)
	}
}

func TestVerify(t *testing.T) {
	ts := Timestamp(now)
	signed := Sign(secret, body, now.Unix())
	bodyOnly := Sign(secret, body, 0)
	at := func(d time.Duration) (string, string) {
		u := now.Add(d).Unix()
		return Sign(secret, body, u), strconv.FormatInt(u, 10)
	}
	old, oldTS := at(-Window - time.Second)
	edge, edgeTS := at(-Window)
	future, futureTS := at(Window + time.Second)
	tests := []struct {
		name, header, ts string
		want             error // nil: accepted
	}{
		{"body only", bodyOnly, "", nil},
		{"upper-case hex", "sha256=" + strings.ToUpper(strings.TrimPrefix(bodyOnly, "sha256=")), "", nil},
		{"upper-case algorithm", "SHA256=" + strings.TrimPrefix(bodyOnly, "sha256="), "", nil},
		{"with timestamp", signed, ts, nil},
		{"at the window's edge", edge, edgeTS, nil},
		{"older than the window", old, oldTS, ErrStale},
		{"ahead of the window", future, futureTS, ErrStale},
		{"timestamp added to a body-only signature", bodyOnly, ts, ErrBadSignature},
		{"timestamp dropped from a timestamped signature", signed, "", ErrBadSignature},
		{"timestamp changed", signed, strconv.FormatInt(now.Unix()+1, 10), ErrBadSignature},
		{"timestamp with a sign", Sign(secret, body, now.Unix()), "+" + ts, ErrBadSignature},
		{"timestamp with a leading zero", Sign(secret, body, now.Unix()), "0" + ts, ErrBadSignature},
		{"timestamp not a number", signed, "now", ErrBadSignature},
		{"stale and forged", Sign([]byte("guess"), body, now.Unix()-3600), strconv.FormatInt(now.Unix()-3600, 10), ErrBadSignature},
		{"another secret", Sign([]byte("other"), body, 0), "", ErrBadSignature},
		{"no algorithm", strings.TrimPrefix(bodyOnly, "sha256="), "", ErrBadSignature},
		{"sha1", "sha1=" + strings.TrimPrefix(bodyOnly, "sha256="), "", ErrBadSignature},
		{"not hex", "sha256=zz", "", ErrBadSignature},
		{"truncated", bodyOnly[:40], "", ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Verify(secret, body, tt.header, tt.ts, now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil && (tt.ts == "") != (s.TS == 0) {
				t.Errorf("Signed.TS = %d for timestamp %q", s.TS, tt.ts)
			}
			if err != nil && strings.Contains(err.Error(), string(secret)) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
	_, err := Verify(secret, body, old, oldTS, now)
	if want := "X-Ferry-Timestamp is 5m1s from this server's clock; the window is 5m0s either way"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("stale error %v, want it to say %q", err, want)
	}
}

func TestReplayGuard(t *testing.T) {
	var g ReplayGuard
	s, err := Verify(secret, body, Sign(secret, body, now.Unix()), Timestamp(now), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(s, now); err != nil {
		t.Fatalf("first call: %v", err)
	}
	if err := g.Check(s, now.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay within the window: %v, want ErrReplay", err)
	}
	// The next second's signature is another call.
	s2, _ := Verify(secret, body, Sign(secret, body, now.Unix()+1), Timestamp(now.Add(time.Second)), now)
	if err := g.Check(s2, now); err != nil {
		t.Errorf("another timestamp: %v", err)
	}
	// A body-only signature is not remembered: it cannot expire.
	b, _ := Verify(secret, body, Sign(secret, body, 0), "", now)
	for range 2 {
		if err := g.Check(b, now); err != nil {
			t.Errorf("body-only signature: %v", err)
		}
	}
	// Once the window has passed, what it remembered is forgotten.
	later := now.Add(2*Window + time.Second)
	s3, _ := Verify(secret, body, Sign(secret, body, later.Unix()), Timestamp(later), later)
	if err := g.Check(s3, later); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Errorf("remembers %d signatures after the window, want 1", g.Len())
	}
}

func TestReplayGuardBounded(t *testing.T) {
	g := ReplayGuard{Max: 3}
	for i := range int64(10) {
		s, err := Verify(secret, body, Sign(secret, body, now.Unix()+i), strconv.FormatInt(now.Unix()+i, 10), now)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Check(s, now); err != nil {
			t.Fatal(err)
		}
		if g.Len() > 3 {
			t.Fatalf("remembers %d, Max is 3", g.Len())
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{}`), Sign(secret, []byte(`{}`), 0), "")
	f.Add([]byte(`{}`), Sign(secret, []byte(`{}`), now.Unix()), Timestamp(now))
	f.Add([]byte(`x`), "sha256=", "01")
	f.Fuzz(func(t *testing.T, body []byte, header, ts string) {
		s, err := Verify(secret, body, header, ts, now)
		if err != nil {
			return
		}
		// Whatever verifies is what Sign makes for the same body and timestamp.
		if got := Sign(secret, body, s.TS); !strings.EqualFold(got, strings.TrimSpace(header)) {
			t.Errorf("Verify accepted %q (ts %q), Sign gives %q", header, ts, got)
		}
	})
}
