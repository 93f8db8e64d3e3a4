// Package jsonpos turns an encoding/json byte offset into the line and
// column a person looks for, so parsers of outside JSON can say where.
package jsonpos

import (
	"bytes"
	"unicode/utf8"
)

// Position is the line and column (1-based, in runes) of the byte before
// offset, where encoding/json stopped.
func Position(data []byte, offset int64) (line, col int) {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	if len(before) > 0 {
		before = before[:len(before)-1]
	}
	line = 1 + bytes.Count(before, []byte("\n"))
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}
