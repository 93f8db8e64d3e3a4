package webhook

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// DefaultMaxBody caps a body when ReadBody is given no limit (1 MiB).
const DefaultMaxBody = 1 << 20

// TooLargeError is returned by ReadBody for a body over the limit; the
// handler answers it with 413 Request Entity Too Large.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("body larger than %d bytes", e.Limit)
}

// ReadBody reads the whole request body, at most limit bytes (DefaultMaxBody
// when limit <= 0). http.MaxBytesReader also tells the server to close the
// connection instead of draining an oversized upload.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &TooLargeError{Limit: limit}
		}
		return nil, fmt.Errorf("read body: %w", err)
	}
	return b, nil
}
