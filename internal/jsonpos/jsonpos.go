// Package jsonpos turns encoding/json's byte offsets into the line and
// column a person looks for, so every parser of outside JSON says where in
// the same words: "line 3, column 20: ...".
//
// Lines and columns count from 1. Columns count runes (Unicode code
// points), not bytes: "é" is one column, "日本" two, an emoji one, so an
// editor's cursor position matches. A combining accent counts as a column
// of its own, as in most editors' "column" read-outs. A tab is one column.
// Invalid UTF-8 counts one column per byte.
package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"unicode/utf8"
)

// Position is the line and column of the byte before offset, which is
// where encoding/json's SyntaxError.Offset ("after reading Offset bytes")
// points. offset is clamped to the data.
func Position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	if offset > 0 {
		offset--
	}
	return At(data, offset)
}

// At is the line and column of the byte at offset (0-based), clamped to
// the data; a byte inside a multi-byte character is in that character's
// column.
func At(data []byte, offset int64) (line, col int) {
	off := runeStart(data, int(max(0, min(offset, int64(len(data))))))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}

// runeStart moves off back to the first byte of the character it is in,
// when it is inside a valid multi-byte character.
func runeStart(data []byte, off int) int {
	if off >= len(data) || utf8.RuneStart(data[off]) {
		return off
	}
	for back := 1; back < utf8.UTFMax && off-back >= 0; back++ {
		if !utf8.RuneStart(data[off-back]) {
			continue
		}
		if r, size := utf8.DecodeRune(data[off-back:]); (r != utf8.RuneError || size > 1) && size > back {
			return off - back
		}
		break
	}
	return off
}

// Error is a decoding error placed in the document. Line and Column are
// where it is (for a type error, where the offending value starts); Field
// is the Go decoder's dotted path of the field ("Results.Severity"), empty
// for syntax errors; Got and Want name JSON kinds ("string", "number").
type Error struct {
	Line, Column int
	Field        string
	Got, Want    string
	Err          error // the encoding/json error (or io.ErrUnexpectedEOF)
}

func (e *Error) Error() string {
	if e.Want != "" {
		field := e.Field
		if field == "" {
			field = "document"
		}
		return fmt.Sprintf("line %d, column %d: %s: got %s, want %s", e.Line, e.Column, field, e.Got, e.Want)
	}
	return fmt.Sprintf("line %d, column %d: %v", e.Line, e.Column, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Locate places err, from decoding data with encoding/json, in data: a
// *json.SyntaxError, a *json.UnmarshalTypeError, or io.ErrUnexpectedEOF (a
// json.Decoder's truncated input) becomes an *Error that still unwraps to
// it. Any other error, and nil, comes back unchanged.
func Locate(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := Position(data, syn.Offset)
		return &Error{Line: line, Column: col, Err: err}
	case errors.As(err, &typ):
		// encoding/json reports the offset after a scalar value, or after
		// the opener of an object or array; point at the value's start.
		line, col := At(data, ValueStart(data, typ.Offset))
		return &Error{Line: line, Column: col, Field: typ.Field, Got: typ.Value, Want: Kind(typ.Type), Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := At(data, int64(len(data)))
		return &Error{Line: line, Column: col, Err: fmt.Errorf("unexpected end of input: %w", err)}
	}
	return err
}

// Kind names a Go type by the JSON kind it decodes from: "string",
// "boolean", "integer", "non-negative integer", "number", "array",
// "object".
func Kind(t reflect.Type) string {
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
	case reflect.Pointer:
		return Kind(t.Elem())
	}
	return t.String()
}

// ValueStart is the offset of the first byte of the value that ends at
// offset, which is where encoding/json's UnmarshalTypeError.Offset points:
// just past a scalar, or just past the opener of an object or array. data
// is valid JSON up to offset (the decoder checks syntax before types).
func ValueStart(data []byte, offset int64) int64 {
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
