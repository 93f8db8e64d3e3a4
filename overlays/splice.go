package overlays

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// splicer turns parser positions (1-based line, 1-based column in characters) into
// byte offsets and collects edits that are applied in one pass. Applying them
// together keeps every offset relative to the original source: no edit has to
// account for another's length.
type splicer struct {
	src   []byte
	lines []int // byte offset of each line start
	eol   string
	edits []splice
}

type splice struct {
	start, end int
	text       string
}

func newSplicer(src []byte) *splicer {
	s := &splicer{src: src, lines: make([]int, 1, bytes.Count(src, []byte{'\n'})+1), eol: "\n"}
	for i, c := range src {
		if c == '\n' {
			s.lines = append(s.lines, i+1)
		}
	}
	// The first line ending decides the new lines' endings, so a CRLF file
	// stays CRLF.
	if i := bytes.IndexByte(src, '\n'); i > 0 && src[i-1] == '\r' {
		s.eol = "\r\n"
	}
	return s
}

func unsupportedf(line int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", ErrUnsupported, line, fmt.Sprintf(format, args...))
}

// offset converts a node's position to a byte offset.
func (s *splicer) offset(n *yaml.Node) (int, error) {
	if n.Line < 1 || n.Line > len(s.lines) || n.Column < 1 {
		return 0, unsupportedf(n.Line, "position out of range")
	}
	// Columns count characters, so multi-byte text before the node is
	// walked rune by rune.
	off := s.lines[n.Line-1]
	for col := 1; col < n.Column; col++ {
		if off >= len(s.src) || s.src[off] == '\n' {
			return 0, unsupportedf(n.Line, "column %d past the end of the line", n.Column)
		}
		_, size := utf8.DecodeRune(s.src[off:])
		off += size
	}
	return off, nil
}

// lineStart is the offset of the start of the line holding off, by binary
// search, so edits in a file of thousands of entries stay cheap.
func (s *splicer) lineStart(off int) int {
	i := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off })
	return s.lines[i-1]
}

// nextLine is the offset just past the end of the line holding off.
func (s *splicer) nextLine(off int) int {
	if i := bytes.IndexByte(s.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(s.src)
}

// indentOf is the number of leading spaces of the line holding off.
func (s *splicer) indentOf(off int) int {
	start := s.lineStart(off)
	i := start
	for i < len(s.src) && s.src[i] == ' ' {
		i++
	}
	return i - start
}

func (s *splicer) replace(start, end int, text string) {
	s.edits = append(s.edits, splice{start: start, end: end, text: text})
}

// insertLines inserts whole lines before offset at, which is a line start or the end
// of the source. A source without a final newline keeps lacking one.
func (s *splicer) insertLines(at int, lines ...string) {
	text := strings.Join(lines, s.eol)
	if at == len(s.src) && at > 0 && s.src[at-1] != '\n' {
		text = s.eol + text
	} else {
		text += s.eol
	}
	s.replace(at, at, text)
}

// apply returns the source with every edit made; edits must not overlap.
func (s *splicer) apply() ([]byte, error) {
	// Stable: inserts at one offset keep the order they were made in.
	sort.SliceStable(s.edits, func(i, j int) bool { return s.edits[i].start < s.edits[j].start })
	var out bytes.Buffer
	out.Grow(len(s.src) + 256)
	cur := 0
	for _, e := range s.edits {
		// Overlap means an editor bug: refusing beats writing a corrupt file.
		if e.start < cur {
			return nil, fmt.Errorf("%w: overlapping edits at byte %d", ErrUnsupported, e.start)
		}
		out.Write(s.src[cur:e.start])
		out.WriteString(e.text)
		cur = e.end
	}
	out.Write(s.src[cur:])
	return out.Bytes(), nil
}

// skipProps skips a node's anchor (&a) and tag (!t) and the blanks after them:
// the parser's position is where those start, not the value.
func (s *splicer) skipProps(off int) int {
	for off < len(s.src) && (s.src[off] == '&' || s.src[off] == '!') {
		for off < len(s.src) && !isBlank(s.src[off]) {
			off++
		}
		for off < len(s.src) && isBlank(s.src[off]) {
			off++
		}
	}
	return off
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// scalarSpan returns the byte span of a scalar's text (without anchor or tag).
// indent is the indentation of the construct holding the scalar: a block scalar or
// a multi-line plain scalar continues on the lines indented deeper than it.
func (s *splicer) scalarSpan(n *yaml.Node, indent int, flow bool) (int, int, error) {
	start, err := s.offset(n)
	if err != nil {
		return 0, 0, err
	}
	start = s.skipProps(start)
	if start >= len(s.src) {
		return 0, 0, unsupportedf(n.Line, "scalar past the end of the document")
	}
	switch s.src[start] {
	case '"':
		for i := start + 1; i < len(s.src); i++ {
			switch s.src[i] {
			case '\\':
				i++
			case '"':
				return start, i + 1, nil
			}
		}
	case '\'':
		for i := start + 1; i < len(s.src); i++ {
			if s.src[i] == '\'' {
				// '' is a quote inside the scalar, not its end.
				if i+1 < len(s.src) && s.src[i+1] == '\'' {
					i++
					continue
				}
				return start, i + 1, nil
			}
		}
	case '|', '>':
		return start, s.blockEnd(start, indent), nil
	default:
		// When the text on this line is not the whole value, the plain
		// scalar goes on over the next, deeper-indented lines.
		end := s.plainEnd(start, flow)
		if string(s.src[start:end]) == n.Value {
			return start, end, nil
		}
		if !flow {
			return start, s.blockEnd(start, indent), nil
		}
		return 0, 0, unsupportedf(n.Line, "multi-line plain scalar in a flow collection")
	}
	return 0, 0, unsupportedf(n.Line, "unterminated quoted scalar")
}

// plainEnd is where a plain scalar starting at start ends on its line.
func (s *splicer) plainEnd(start int, flow bool) int {
	end := start
	for i := start; i < len(s.src); i++ {
		c := s.src[i]
		if c == '\n' || c == '\r' {
			break
		}
		// A comment starts only after a blank: "a#b" is one value.
		if c == '#' && i > start && (s.src[i-1] == ' ' || s.src[i-1] == '\t') {
			break
		}
		if flow && (c == ',' || c == ']' || c == '}') {
			break
		}
		// ": " ends the scalar, "host:5000" does not.
		if c == ':' && (i+1 == len(s.src) || isBlank(s.src[i+1]) || flow && strings.IndexByte(",]}", s.src[i+1]) >= 0) {
			break
		}
		if c != ' ' && c != '\t' {
			end = i + 1
		}
	}
	return end
}

// blockEnd is the end of the last non-blank line after the one holding start that
// is indented deeper than indent, or the end of start's own text when none is.
func (s *splicer) blockEnd(start, indent int) int {
	end := s.plainEnd(start, false)
	for off := s.nextLine(start); off < len(s.src); off = s.nextLine(off) {
		i := off
		for i < len(s.src) && s.src[i] == ' ' {
			i++
		}
		if i == len(s.src) || s.src[i] == '\n' || s.src[i] == '\r' {
			continue // blank lines do not end a block
		}
		if i-off <= indent {
			break
		}
		end = i
		for end < len(s.src) && s.src[end] != '\n' && s.src[end] != '\r' {
			end++
		}
	}
	return end
}

// nodeEnd is the offset just past a node's text (comments after it excluded).
func (s *splicer) nodeEnd(n *yaml.Node, indent int, flow bool) (int, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if isImplicitNull(n) {
			return s.offset(n) // right after the key's colon
		}
		_, end, err := s.scalarSpan(n, indent, flow)
		return end, err
	case yaml.AliasNode:
		off, err := s.offset(n)
		if err != nil {
			return 0, err
		}
		// Checked, not trusted: a wrong position would cut the wrong bytes.
		if !bytes.HasPrefix(s.src[off:], []byte("*"+n.Value)) {
			return 0, unsupportedf(n.Line, "alias *%s not where the parser put it", n.Value)
		}
		return off + 1 + len(n.Value), nil
	case yaml.MappingNode, yaml.SequenceNode:
		if n.Style&yaml.FlowStyle != 0 {
			return s.flowEnd(n)
		}
		if len(n.Content) == 0 {
			return 0, unsupportedf(n.Line, "empty block collection")
		}
		last := n.Content[len(n.Content)-1]
		first := n
		if n.Kind == yaml.MappingNode {
			first = n.Content[0] // keys hold the column, a tag before them would not
		}
		off, err := s.offset(first)
		if err != nil {
			return 0, err
		}
		// Children of a block collection are indented deeper than its own column
		// (a list's dash, or a mapping's keys).
		return s.nodeEnd(last, s.column(off), false)
	}
	return 0, unsupportedf(n.Line, "unknown node kind")
}

// column is the 0-based byte column of off; indentation is spaces only.
func (s *splicer) column(off int) int { return off - s.lineStart(off) }

// flowEnd finds the closing bracket of a flow collection after its last child.
func (s *splicer) flowEnd(n *yaml.Node) (int, error) {
	start, err := s.offset(n)
	if err != nil {
		return 0, err
	}
	start = s.skipProps(start)
	open, closing := byte('['), byte(']')
	if n.Kind == yaml.MappingNode {
		open, closing = '{', '}'
	}
	if start >= len(s.src) || s.src[start] != open {
		return 0, unsupportedf(n.Line, "flow collection does not start with %q", open)
	}
	off := start + 1
	if len(n.Content) > 0 {
		if off, err = s.nodeEnd(n.Content[len(n.Content)-1], 0, true); err != nil {
			return 0, err
		}
	}
	for off < len(s.src) {
		switch c := s.src[off]; {
		case c == closing:
			return off + 1, nil
		case isBlank(c) || c == ',':
			off++
		// A comment may sit between the last item and the bracket.
		case c == '#':
			off = s.nextLine(off)
		default:
			return 0, unsupportedf(n.Line, "unexpected %q before the end of a flow collection", c)
		}
	}
	return 0, unsupportedf(n.Line, "unterminated flow collection")
}
