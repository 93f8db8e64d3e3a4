package gitstate

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a rejections or freeze file. The parsers return
// these, joined with errors.Join when there are several.
type Error struct {
	Source       string // where the document came from; may be empty
	Line, Column int    // 1-based; 0 when not known
	Path         string // YAML path such as "freezes[1].schedule"; "" for the document
	Message      string // what is wrong; starts with Path when there is one

	cause error // the library error behind Message, for errors.Is/As
}

// Unwrap returns the underlying library error, if any.
func (e *Error) Unwrap() error { return e.cause }

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

// pos is where a YAML node starts; line 0 means unknown.
type pos struct{ line, col int }

// problems collects located errors so one parse reports all of them.
type problems struct {
	source string
	errs   []error
}

// add records a problem at p; the message is prefixed with path.
func (ps *problems) add(p pos, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	ps.errs = append(ps.errs, &Error{Source: ps.source, Line: p.line, Column: p.col, Path: path, Message: msg})
}

// err returns the problems in reading order, or nil.
func (ps *problems) err() error {
	slices.SortStableFunc(ps.errs, func(a, b error) int {
		ea, eb := a.(*Error), b.(*Error)
		return cmp.Or(cmp.Compare(ea.Line, eb.Line), cmp.Compare(ea.Column, eb.Column))
	})
	return errors.Join(ps.errs...)
}

func indexPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

func joinPath(parent, field string) string {
	switch {
	case parent == "":
		return field
	case field == "":
		return parent
	}
	return parent + "." + field
}
