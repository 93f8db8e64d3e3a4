package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/jsonpos"
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
		msg := fmt.Sprintf("bad JSON: line %d, column %d: %s: got %s, want %s", line, col, field, typ.Value, kindName(typ.Type))
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

// kindName says "string" or "object" rather than naming a Go type.
func kindName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

// short keeps quoted input in an error readable.
func short(b []byte) string {
	const limit = 40
	if utf8.RuneCount(b) <= limit {
		return string(b)
	}
	r := []rune(string(b))
	return string(r[:limit]) + "…"
}
