package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a ferry.yaml. Parse and Validate return these,
// joined with errors.Join when there are several.
type Error struct {
	Source       string // where the document came from; may be empty
	Line, Column int    // 1-based; 0 when the node is not known
	Path         string // YAML path such as "apps[0].tags"; "" for the document
	Message      string // what is wrong; names Path itself where that helps

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

// position is where a YAML node starts.
type position struct{ line, col int }

// positions maps YAML paths ("apps[0].tags.semver") to where they were
// written, so checks made on decoded values can still point at the file.
type positions map[string]position

// at returns the position of path, or of its nearest ancestor that was
// written (a missing field is reported where its parent is).
func (ps positions) at(path string) (position, bool) {
	if ps == nil {
		return position{}, false
	}
	for {
		if p, ok := ps[path]; ok {
			return p, true
		}
		if path == "" {
			return position{}, false
		}
		path = parentPath(path)
	}
}

// parentPath drops the last ".field" or "[i]" of a path built by join/index.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func joinPath(parent, field string) string {
	if parent == "" {
		return field
	}
	return parent + "." + field
}

func indexPath(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// mapKeyPath names an entry of a map whose keys are free text (hosts, names).
func mapKeyPath(parent, key string) string { return fmt.Sprintf("%s[%q]", parent, key) }

// problems collects validation errors located through a positions map.
type problems struct {
	source string
	pos    positions
	errs   []error
}

// add records a problem at path; the message is prefixed with the path.
func (ps *problems) add(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	e := &Error{Source: ps.source, Path: path, Message: msg}
	if p, ok := ps.pos.at(path); ok {
		e.Line, e.Column = p.line, p.col
	}
	ps.errs = append(ps.errs, e)
}

// sort puts located problems in reading order; unlocated ones keep theirs.
func (ps *problems) sort() {
	slices.SortStableFunc(ps.errs, func(a, b error) int {
		ea, eb := a.(*Error), b.(*Error)
		if (ea.Line == 0) != (eb.Line == 0) {
			return cmp.Compare(eb.Line, ea.Line) // unlocated last
		}
		return cmp.Or(cmp.Compare(ea.Line, eb.Line), cmp.Compare(ea.Column, eb.Column))
	})
}
