package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Eval loads the policies under dir and decides for one JSON input, as
// `ferry policy eval` does.
func Eval(ctx context.Context, fsys fs.FS, dir string, inputJSON []byte, opts ...LoadOption) (Decision, error) {
	e, err := Load(ctx, fsys, dir, opts...)
	if err != nil {
		return Decision{}, err
	}
	return e.Decide(ctx, inputJSON)
}

// toValue converts an input once, so evaluation does not convert it again;
// of a map, only what r says the policies read (nil: all of it).
func toValue(input any, r *reads) (ast.Value, error) {
	var v ast.Value
	switch x := input.(type) {
	case nil:
		return nil, errors.New("policy input is missing")
	case ast.Value:
		v = x
	case map[string]any:
		if r == nil {
			r = &reads{all: true}
		}
		var err error
		if v, err = readValue(x, r); err != nil {
			return nil, fmt.Errorf("convert policy input: %w", err)
		}
	case []byte:
		return jsonValue(x)
	case json.RawMessage:
		return jsonValue(x)
	default:
		var err error
		if v, err = goValue(x); err != nil {
			return nil, fmt.Errorf("convert policy input: %w", err)
		}
	}
	if _, ok := v.(ast.Object); !ok {
		return nil, fmt.Errorf("policy input must be an object, got %s", ast.ValueName(v))
	}
	return v, nil
}

// jsonValue decodes one JSON object; numbers stay exact.
func jsonValue(data []byte) (ast.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("parse policy input: %s", jsonProblem(data, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse policy input: %s: more data after the JSON object", position(data, dec.InputOffset()))
	}
	if _, ok := x.(map[string]any); !ok {
		return nil, fmt.Errorf("policy input must be a JSON object, got %s", jsonKind(x))
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, fmt.Errorf("convert policy input: %w", err)
	}
	return v, nil
}

// jsonProblem describes a decoding error with the line and column it is at.
func jsonProblem(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the offending byte as read.
		return fmt.Sprintf("%s: %v", position(data, se.Offset-1), se)
	}
	if errors.Is(err, io.EOF) {
		return "empty document"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Sprintf("%s: unexpected end of JSON", position(data, int64(len(data))))
	}
	return err.Error()
}

// position turns a byte offset into "line L, column C" (both from 1).
func position(data []byte, off int64) string {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

func jsonKind(x any) string {
	switch x.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", x)
}
