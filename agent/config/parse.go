package config

import (
	"errors"
	"fmt"
	"os"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ferry-dev/ferry/internal/dnslabel"
	"github.com/ferry-dev/ferry/internal/yamlerr"
)

// Load reads the ferry.yaml at path; errors name the path, line and column.
func Load(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes one ferry.yaml document strictly (unknown fields are errors),
// applies the defaults and validates the result. source names the document
// in errors ("<source>:<line>:<col>: <reason>") and becomes p.Source.
func Parse(source string, data []byte) (*Pipeline, error) {
	data, err := yamlerr.Prepare(source, data) // BOM, CRLF, UTF-8
	if err != nil {
		return nil, err
	}
	body, err := document(source, data)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(source, body); err != nil {
		return nil, err
	}
	pos, errs := checkSchema(source, body)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Pipeline{}
	// The schema walk has found every problem it can explain; strict decoding
	// stays on so anything it missed is still an error, not a silent drop.
	// The parser has already refused duplicate keys; allowing them here lets
	// a key beside "<<: *anchor" override the merged one, as YAML says.
	if err := decode(body, p); err != nil {
		return nil, yamlerr.FromParser(source, err)
	}
	p.Source = source
	p.pos = pos
	p.setDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// decode is goccy's decoder, which panics on some malformed documents (a
// tag on an empty sequence value); such a document is refused, not a crash.
func decode(body ast.Node, p *Pipeline) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the document cannot be decoded (%v); check the tags and empty values", r)
		}
	}()
	return yaml.NodeToValue(body, p, yaml.Strict(), yaml.AllowDuplicateMapKey())
}

// document parses data and returns the body of its single YAML document.
func document(source string, data []byte) (ast.Node, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlerr.FromParser(source, err)
	}
	// A file of comments only parses as a comment document: that is
	// "empty", not a second document.
	var bodies []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil && d.Body.Type() != ast.CommentType {
			bodies = append(bodies, d.Body)
		}
	}
	switch len(bodies) {
	case 0:
		return nil, &Error{Source: source, Message: "empty document: want a Pipeline with apiVersion " + APIVersion}
	case 1:
	default:
		// Refused rather than taking the first: a second Pipeline pasted
		// below would otherwise be silently ignored.
		e := &Error{Source: source, Message: fmt.Sprintf("holds %d YAML documents; want exactly one Pipeline", len(bodies))}
		if p, ok := nodePos(bodies[1]); ok {
			e.Line, e.Column = p.line, p.col
		}
		return nil, e
	}
	return bodies[0], nil
}

// checkHeader rejects a document that is not a ferry Pipeline before its
// fields are checked, so a wrong file gives one clear error, not dozens.
func checkHeader(source string, body ast.Node) error {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		e := &Error{Source: source, Message: fmt.Sprintf("top level must be a mapping (apiVersion, kind, git, ...), found %s", describe(body))}
		if p, ok := nodePos(body); ok {
			e.Line, e.Column = p.line, p.col
		}
		return e
	}
	var errs []error
	for _, want := range []struct{ key, value string }{{"apiVersion", APIVersion}, {"kind", Kind}} {
		var got ast.Node
		for _, mv := range m.Values {
			if mv != nil && mv.Key != nil && mv.Key.GetToken() != nil && mv.Key.GetToken().Value == want.key {
				got = mv.Value
			}
		}
		for unwrapped := true; unwrapped; { // look through "!!str" and "&anchor"
			switch n := got.(type) {
			case *ast.TagNode:
				got = n.Value
			case *ast.AnchorNode:
				got = n.Value
			default:
				unwrapped = false
			}
		}
		e := &Error{Source: source, Path: want.key}
		switch sc, ok := got.(*ast.StringNode); {
		case got == nil:
			e.Message = fmt.Sprintf("%s: required; want %q", want.key, want.value)
			got = body
		case !ok:
			e.Message = fmt.Sprintf("%s: want %q, found %s", want.key, want.value, describe(got))
		case sc.Value != want.value:
			e.Message = fmt.Sprintf("%s: %s is not supported; want %q", want.key, dnslabel.Quote(sc.Value), want.value)
		default:
			continue
		}
		if p, ok := nodePos(got); ok {
			e.Line, e.Column = p.line, p.col
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
