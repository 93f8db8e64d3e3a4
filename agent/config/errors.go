package config

import (
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/text"
	"github.com/ferry-dev/ferry/internal/yamlerr"
)

// Error is one problem in a ferry.yaml: "<source>:<line>:<col>: <message>",
// the format ferry's other YAML files share (internal/yamlerr). Parse and
// Validate return these, joined with errors.Join when there are several.
type Error = yamlerr.Error

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

// mapKeyPath names an entry of a map whose keys are free text (hosts,
// names). A key is cut to 64 characters so an error never repeats a huge
// one; two keys that only differ after that share their path's position.
func mapKeyPath(parent, key string) string {
	return fmt.Sprintf("%s[%q]", parent, text.Truncate(key, 64))
}

// problems collects validation errors located through a positions map.
type problems struct {
	yamlerr.List
	pos positions
}

func newProblems(source string, pos positions) *problems {
	return &problems{List: yamlerr.List{Source: source}, pos: pos}
}

// where names path as "<source>:<line>:<col>" for a message that points at
// a second place, or as the path itself when it was not read from a file.
func (ps *problems) where(path string) string {
	p, ok := ps.pos.at(path)
	switch {
	case !ok:
		return path
	case ps.Source == "":
		return fmt.Sprintf("%d:%d", p.line, p.col)
	}
	return fmt.Sprintf("%s:%d:%d", ps.Source, p.line, p.col)
}

// add records a problem at path; the message is prefixed with the path.
func (ps *problems) add(path, format string, args ...any) {
	p, _ := ps.pos.at(path)
	ps.Add(p.line, p.col, path, format, args...)
}
