package gitstate

import (
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Edits change the lines of one list entry and leave every other byte as
// it was: people's comments, blank lines, quoting and key order stay, and
// the commit's diff shows just the entry. layout finds the lines from the
// parsed nodes; a document it cannot edit line by line (a flow mapping, a
// flow list with entries, odd indentation) is written out again instead.
type layout struct {
	lines    []string // the text without line breaks
	eol      string   // "\n", or "\r\n" when the file uses it
	finalEOL bool     // the text ends with a line break
	bom      bool     // the text starts with a UTF-8 byte order mark

	empty     bool   // no document yet: only comments or nothing
	key       int    // line of the list's key; -1 when it is absent
	keyIndent string // indentation of the top-level keys
	starts    []int  // line of each entry's '-'
	indent    string // indentation of the entries' '-'
}

// newLayout returns the layout of data, whose parsed form is doc, or false
// when data must be written out again to be edited.
func newLayout(data []byte, doc *document) (*layout, bool) {
	text := string(data)
	l := &layout{eol: "\n", key: -1}
	if strings.HasPrefix(text, string(bom)) {
		l.bom, text = true, text[len(bom):]
	}
	if strings.Contains(text, "\r\n") {
		l.eol = "\r\n"
	}
	if strings.Count(text, "\r") != strings.Count(text, "\r\n") {
		return nil, false // a lone CR breaks lines for YAML but not here
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	l.finalEOL = strings.HasSuffix(text, "\n")
	l.lines = strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if text == "" {
		l.lines = nil
	}
	if doc.body == nil {
		l.empty = true
		return l, true
	}
	if m, ok := doc.body.(*ast.MappingNode); !ok || m.IsFlowStyle || len(doc.pairs) == 0 {
		return nil, false
	}
	first := nodePos(doc.pairs[0].Key)
	if !l.spacesBefore(first) {
		return nil, false
	}
	l.keyIndent = strings.Repeat(" ", first.col-1)
	if doc.list == nil {
		return l, true
	}
	at := nodePos(doc.list.Key)
	if at.col != first.col || !l.spacesBefore(at) {
		return nil, false
	}
	l.key = at.line - 1
	seq, ok := doc.list.Value.(*ast.SequenceNode)
	if !ok || len(seq.Values) == 0 {
		// null, ~ or []: the key line is rewritten when an entry is added
		return l, keyValue.MatchString(l.lines[l.key])
	}
	if seq.IsFlowStyle || len(seq.Entries) != len(seq.Values) {
		return nil, false
	}
	for i, e := range seq.Entries {
		if e.Start == nil || e.Start.Position == nil {
			return nil, false
		}
		p := pos{e.Start.Position.Line, e.Start.Position.Column}
		if !l.spacesBefore(p) || p.line-1 <= l.key || (i > 0 && p.line-1 <= l.starts[i-1]) {
			return nil, false
		}
		indent := strings.Repeat(" ", p.col-1)
		if i > 0 && indent != l.indent {
			return nil, false
		}
		l.indent = indent
		l.starts = append(l.starts, p.line-1)
	}
	return l, true
}

// keyValue is a list key line whose value can be dropped: "key:", "key: []",
// "key: null" or "key: ~", with an optional comment.
var keyValue = regexp.MustCompile(`^([^#]*?:)[ \t]*(?:\[[ \t]*\]|null|Null|NULL|~)?[ \t]*(#.*)?$`)

// spacesBefore reports whether only spaces precede p on its line.
func (l *layout) spacesBefore(p pos) bool {
	if p.line < 1 || p.line > len(l.lines) || p.col < 1 {
		return false
	}
	line := l.lines[p.line-1]
	return p.col-1 <= len(line) && strings.Trim(line[:p.col-1], " ") == ""
}

func (l *layout) String() string {
	var b strings.Builder
	if l.bom {
		b.Write(bom)
	}
	for i, line := range l.lines {
		b.WriteString(line)
		if i < len(l.lines)-1 || l.finalEOL {
			b.WriteString(l.eol)
		}
	}
	return b.String()
}

func blank(line string) bool { return strings.TrimSpace(line) == "" }

func comment(line string) bool { return strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") }

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// contentEnd is the last line of entry i: the lines after its '-' that are
// blank or indented deeper than the '-' belong to it (YAML puts every line
// of a nested value deeper), up to the last non-blank one.
func (l *layout) contentEnd(i int) int {
	limit := len(l.lines)
	if i+1 < len(l.starts) {
		limit = l.starts[i+1]
	}
	end := l.starts[i]
	for j := end + 1; j < limit; j++ {
		if blank(l.lines[j]) {
			continue
		}
		if indentOf(l.lines[j]) <= len(l.indent) {
			break
		}
		end = j
	}
	return end
}

// headStart is the first line of the comment lines right above entry i's
// '-', which belong to it.
func (l *layout) headStart(i int) int {
	bound := l.key
	if i > 0 {
		bound = l.contentEnd(i - 1)
	}
	h := l.starts[i]
	for h-1 > bound && comment(l.lines[h-1]) {
		h--
	}
	return h
}

// blanksAbove extends line h up over the blank lines right above it.
func (l *layout) blanksAbove(h, bound int) int {
	for h-1 > bound && blank(l.lines[h-1]) {
		h--
	}
	return h
}

func (l *layout) splice(from, to int, with ...string) {
	l.lines = append(l.lines[:from], append(with, l.lines[to:]...)...)
}

// remove deletes entry i with its head comments and the blank lines that
// separate it; the last entry leaves "key: []".
func (l *layout) remove(i int) {
	n := len(l.starts)
	switch {
	case n == 1:
		l.splice(l.blanksAbove(l.headStart(0), l.key), l.contentEnd(0)+1)
		if m := keyValue.FindStringSubmatch(l.lines[l.key]); m != nil {
			l.lines[l.key] = strings.TrimRight(m[1]+" [] "+m[2], " ")
		}
	case i == n-1:
		l.splice(l.blanksAbove(l.headStart(i), l.contentEnd(i-1)), l.contentEnd(i)+1)
	default:
		l.splice(l.headStart(i), l.headStart(i+1))
	}
}

// replace swaps entry i's lines for keys, keeping its head comments.
func (l *layout) replace(i int, keys []string) {
	l.splice(l.starts[i], l.contentEnd(i)+1, entryLines(keys, l.indent)...)
}

// appendEntry adds an entry after the last one, separated by a blank line
// when the entries already are.
func (l *layout) appendEntry(kind, key string, keys []string) {
	switch {
	case l.empty:
		doc := strings.Split(strings.TrimSuffix(renderDocument(kind, key, [][]string{keys}, "\n"), "\n"), "\n")
		l.lines = append(l.lines, doc...)
		l.finalEOL = true
	case l.key < 0:
		l.lines = append(l.lines, l.keyIndent+key+":")
		l.lines = append(l.lines, entryLines(keys, l.keyIndent+"  ")...)
		l.finalEOL = true
	case len(l.starts) == 0:
		m := keyValue.FindStringSubmatch(l.lines[l.key])
		l.lines[l.key] = strings.TrimRight(m[1]+" "+m[2], " ")
		at := l.key + 1
		l.splice(at, at, entryLines(keys, l.keyIndent+"  ")...)
		if at+len(keys) >= len(l.lines) {
			l.finalEOL = true
		}
	default:
		n := len(l.starts)
		at := l.contentEnd(n-1) + 1
		lines := entryLines(keys, l.indent)
		if n > 1 && l.headStart(n-1) > l.contentEnd(n-2)+1 && blank(l.lines[l.headStart(n-1)-1]) {
			lines = append([]string{""}, lines...)
		}
		l.splice(at, at, lines...)
		if at+len(lines) >= len(l.lines) {
			l.finalEOL = true
		}
	}
}
