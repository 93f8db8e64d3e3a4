package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ferry-dev/ferry/internal/jsonpos"
	"github.com/ferry-dev/ferry/internal/text"
)

// locateJSON puts the line and column (1-based, columns in characters) of
// encoding/json's syntax and type errors in front of them, keeping err in
// the chain. Other errors come back unchanged.
func locateJSON(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := jsonpos.Position(data, syn.Offset)
		return fmt.Errorf("bad JSON: line %d, column %d: %w", line, col, err)
	case errors.As(err, &typ):
		// The offset is just past the offending value: name its end.
		line, col := jsonpos.Position(data, typ.Offset)
		// template.Data is embedded in the payload: its Go name is no field.
		field := strings.TrimPrefix(typ.Field, "Data.")
		if field == "" {
			field = "document"
		}
		msg := fmt.Sprintf("bad JSON: line %d, column %d: %s: got %s, want %s", line, col, field, typ.Value, jsonpos.Kind(typ.Type))
		return &locatedError{msg: msg, err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := jsonpos.Position(data, int64(len(data))+1)
		return fmt.Errorf("bad JSON: line %d, column %d: unexpected end of input: %w", line, col, err)
	}
	return err
}

// locatedError reads "line 3, column 20: alerts.labels.env: got number,
// want string" instead of naming Go types, and still unwraps to the
// encoding/json error.
type locatedError struct {
	msg string
	err error
}

func (e *locatedError) Error() string { return e.msg }
func (e *locatedError) Unwrap() error { return e.err }

// short keeps quoted input in an error readable.
func short(b []byte) string { return text.Truncate(string(b), 40) }
