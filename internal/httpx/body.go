// Package httpx is the one home of ferry's outbound HTTP hygiene: size
// limits on bodies read from outside, redaction of URLs in errors, and
// clients whose every request has deadlines and whose redirects do not carry
// credentials to another origin.
package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ErrBodyTooLarge is what errors.Is finds in every *TooLargeError.
var ErrBodyTooLarge = errors.New("body too large")

// TooLargeError is a body that went past its limit. Source names where it
// came from ("registry 127.0.0.1:5000 tag list for shop/checkout"); it must
// hold no secret.
type TooLargeError struct {
	Source string
	Limit  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: body exceeds %s", e.Source, FormatBytes(e.Limit))
}

// Is makes errors.Is(err, ErrBodyTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// FormatBytes writes n the way limits are documented: "4 MiB", "512 KiB",
// "100 bytes"; sizes that are not whole units keep their byte count.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadAll reads r to its end, or fails with a *TooLargeError naming source
// as soon as more than limit bytes arrive: never more than limit+1 bytes
// are held, whatever the sender claims or sends.
func ReadAll(r io.Reader, source string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(LimitReader(r, source, limit))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ReadResponse reads resp's body under limit and closes it. A
// Content-Length over the limit fails before anything is read.
func ReadResponse(resp *http.Response, source string, limit int64) ([]byte, error) {
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, &TooLargeError{Source: source, Limit: limit}
	}
	return ReadAll(resp.Body, source, limit)
}

// Drain reads and discards at most max bytes of resp's body, then closes
// it, so a keep-alive connection can be reused after an error answer
// without letting the sender hold the reader.
func Drain(resp *http.Response, max int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, max))
	_ = resp.Body.Close()
}

// LimitReader returns a reader of r that fails with a *TooLargeError once r
// has more than limit bytes. Reads up to the limit pass through unchanged.
func LimitReader(r io.Reader, source string, limit int64) io.Reader {
	return &limitedReader{r: r, left: limit, source: source, limit: limit}
}

type limitedReader struct {
	r      io.Reader
	left   int64 // bytes still allowed
	source string
	limit  int64
	err    error
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Ask for one byte past the allowance: getting it proves the body is
	// longer than the limit without reading further.
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		l.err = &TooLargeError{Source: l.source, Limit: l.limit}
		n = int(l.left)
		l.left = 0
		return n, l.err
	}
	l.left -= int64(n)
	return n, err
}

// LimitBody wraps rc like LimitReader, keeping its Close.
func LimitBody(rc io.ReadCloser, source string, limit int64) io.ReadCloser {
	return &limitedBody{Reader: LimitReader(rc, source, limit), c: rc}
}

type limitedBody struct {
	io.Reader
	c io.Closer
}

func (b *limitedBody) Close() error { return b.c.Close() }
