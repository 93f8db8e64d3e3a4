package gitstate

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/yamlerr"
)

// Error is one problem in a rejections or freeze file: "<source>:<line>:<col>:
// <message>", the format ferry.yaml's errors share (internal/yamlerr). The
// parsers return these, joined with errors.Join when there are several.
type Error = yamlerr.Error

// pos is where a YAML node starts; line 0 means unknown.
type pos struct{ line, col int }

// problems collects located errors so one parse reports all of them.
type problems struct{ yamlerr.List }

func newProblems(source string) *problems { return &problems{yamlerr.List{Source: source}} }

// add records a problem at p; the message is prefixed with path.
func (ps *problems) add(p pos, path, format string, args ...any) {
	ps.Add(p.line, p.col, path, format, args...)
}

// err returns the problems in reading order, or nil.
func (ps *problems) err() error { return ps.Err() }

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
