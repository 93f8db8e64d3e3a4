package trivy

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/ferry-dev/ferry/internal/jsonpos"
)

// locate turns encoding/json's byte offsets into line and column (1-based,
// columns in characters), keeping err in the chain. Other errors pass
// through.
func locate(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := jsonpos.Position(data, syn.Offset)
		return fmt.Errorf("line %d, column %d: %w", line, col, err)
	case errors.As(err, &typ):
		// encoding/json reports the offset after a scalar value, or after
		// the opener of an object or array; point at the value's start.
		line, col := jsonpos.Position(data, valueStart(data, typ.Offset)+1)
		field := typ.Field
		if field == "" {
			field = "document"
		}
		return &typeError{line: line, col: col, field: field, got: typ.Value, want: kindName(typ.Type), err: err}
	}
	return err
}

// typeError reads "line 3, column 20: Results.Vulnerabilities.Severity: got
// number, want string" instead of naming Go types.
type typeError struct {
	line, col int
	field     string
	got, want string
	err       error
}

func (e *typeError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s: got %s, want %s", e.line, e.col, e.field, e.got, e.want)
}

func (e *typeError) Unwrap() error { return e.err }

func kindName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

// valueStart finds where the value that encoding/json complained about
// begins: its offset is just past a scalar, or just past the opener of an
// object or array. data is valid JSON (checked before decoding).
func valueStart(data []byte, offset int64) int64 {
	i := min(offset, int64(len(data))) - 1
	if i < 0 {
		return 0
	}
	switch data[i] {
	case '{', '[':
		return i
	case '"':
		return stringStart(data, i)
	}
	for i > 0 && !isDelim(data[i-1]) {
		i--
	}
	return i
}

// stringStart returns the index of the quote opening the string whose
// closing quote is at end.
func stringStart(data []byte, end int64) int64 {
	for i := end - 1; i >= 0; i-- {
		if data[i] != '"' {
			continue
		}
		backslashes := 0
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i
		}
	}
	return 0
}

func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ':', ',', '[', '{':
		return true
	}
	return false
}
