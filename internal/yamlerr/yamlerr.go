// Package yamlerr is the one error format of the YAML files ferry reads
// (ferry.yaml, the fleet repo's rejections and freezes):
//
//	<source>:<line>:<col>: <path>: <reason>
//
// with what is unknown left out. agent/config and agent/gitstate both build
// their errors here so a person sees one format and a tool parses one.
package yamlerr

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
)

// Error is one problem in a YAML file.
type Error struct {
	Source       string // where the document came from; may be empty
	Line, Column int    // 1-based, columns in characters; 0 when not known
	Path         string // YAML path such as "apps[0].tags"; "" for the document
	Message      string // what is wrong; starts with Path when there is one
	Err          error  // the library error behind Message, for errors.Is/As; may be nil
}

// Unwrap returns the underlying library error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Error formats as "<source>:<line>:<col>: <message>", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Message)
	return b.String()
}

var bom = []byte("\xef\xbb\xbf")

// Prepare readies a file for goccy's parser: it drops a UTF-8 byte order
// mark some editors add, reads CRLF as LF (YAML does; goccy counts a CRLF
// after a comment as two lines, so every later position would be off) and
// refuses bytes that are not UTF-8, naming the first one.
func Prepare(source string, data []byte) ([]byte, error) {
	data = bytes.TrimPrefix(data, bom)
	if bytes.Contains(data, []byte("\r\n")) {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	}
	if !utf8.Valid(data) {
		return nil, invalidUTF8(source, data)
	}
	return data, nil
}

// invalidUTF8 locates the first byte that is not UTF-8.
func invalidUTF8(source string, data []byte) error {
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			break
		}
		if r == '\n' {
			line, col = line+1, 0
		}
		col++
		data = data[size:]
	}
	return &Error{Source: source, Line: line, Column: col, Message: "not valid UTF-8"}
}

// FromParser turns a goccy parse or decode error into an Error with its
// line:col, dropping goccy's multi-line source excerpt; err stays in the
// chain.
func FromParser(source string, err error) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{Source: source, Message: ye.GetMessage(), Err: err}
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
		return e
	}
	return &Error{Source: source, Message: err.Error(), Err: err}
}

// List collects the problems of one file so a parse reports all of them.
// The zero List (with Source set) is ready to use.
type List struct {
	Source string
	errs   []error
}

// Add records a problem at line:col (0 when unknown); the message is
// prefixed with path when there is one.
func (l *List) Add(line, col int, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	l.errs = append(l.errs, &Error{Source: l.Source, Line: line, Column: col, Path: path, Message: msg})
}

// Append records a problem built elsewhere.
func (l *List) Append(e *Error) { l.errs = append(l.errs, e) }

// Len is how many problems were recorded.
func (l *List) Len() int { return len(l.errs) }

// Err returns the problems in reading order (those with no position last,
// in the order they came), joined with errors.Join; nil when there are none.
func (l *List) Err() error {
	slices.SortStableFunc(l.errs, func(a, b error) int {
		ea, eb := a.(*Error), b.(*Error)
		if (ea.Line == 0) != (eb.Line == 0) {
			return cmp.Compare(eb.Line, ea.Line) // unlocated last
		}
		return cmp.Or(cmp.Compare(ea.Line, eb.Line), cmp.Compare(ea.Column, eb.Column))
	})
	return errors.Join(l.errs...)
}
