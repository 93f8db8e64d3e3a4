package overlays

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SetImage points every images entry named img.Name at img: newTag and digest are set
// to img.NewTag and img.Digest (an empty value removes the field), newName is set only
// when img.NewName is not empty. Without a matching entry one is appended, creating
// the images list if needed. When nothing changes it returns data itself and false.
func SetImage(data []byte, img Image) ([]byte, bool, error) {
	// Values first: nothing odd reaches the file, whatever its layout.
	if err := img.validate(); err != nil {
		return nil, false, fmt.Errorf("set image: %w", err)
	}
	src := stripBOM(data)
	// Columns are counted in characters: invalid UTF-8 would misplace every
	// edit after it.
	if !utf8.Valid(src) {
		return nil, false, fmt.Errorf("set image %s: %w: not UTF-8", img.Name, ErrUnsupported)
	}
	if i := oddLineBreak(src); i >= 0 {
		return nil, false, fmt.Errorf("set image %s: %w: a line break other than LF or CRLF at byte %d", img.Name, ErrUnsupported, i)
	}
	d, err := parse(src, true)
	if err != nil {
		return nil, false, fmt.Errorf("set image %s: %w", img.Name, err)
	}
	s := newSplicer(src)
	matched := false
	for _, e := range d.entries {
		if e.get(keyName) != img.Name {
			continue
		}
		matched = true
		if err := updateEntry(s, e, img); err != nil {
			return nil, false, fmt.Errorf("set image %s: %w", img.Name, err)
		}
	}
	// No entry is not an error: an overlay that takes the image from its
	// base gets an entry of its own, which pins it for this environment.
	if !matched {
		if err := appendEntry(s, d, img); err != nil {
			return nil, false, fmt.Errorf("set image %s: %w", img.Name, err)
		}
	}
	if len(s.edits) == 0 {
		return data, false, nil
	}
	out, err := s.apply()
	if err != nil {
		return nil, false, fmt.Errorf("set image %s: %w", img.Name, err)
	}
	if len(src) != len(data) {
		out = append(append(make([]byte, 0, len(bom)+len(out)), bom...), out...)
	}
	return out, true, nil
}

// fieldValues are the wanted values in key order; "" with set=false means keep.
// The name is the entry's key and never changes; newName changes only when
// asked, since an overlay may rename the image on purpose.
func (img Image) fieldValues() (vals [numKeys]string, set [numKeys]bool) {
	vals = [numKeys]string{img.Name, img.NewName, img.NewTag, img.Digest}
	set = [numKeys]bool{false, img.NewName != "", true, true}
	return vals, set
}

func updateEntry(s *splicer, e *entry, img Image) error {
	flow := e.node.Style&yaml.FlowStyle != 0
	// A block mapping's keys share one column; its first key is where the
	// mapping's own text starts (a tag or anchor before it would not be).
	keyOff, err := s.offset(e.node.Content[0])
	if err != nil {
		return err
	}
	indent := s.column(keyOff)
	vals, set := img.fieldValues()
	for k := keyNewName; k < numKeys; k++ {
		if !set[k] {
			continue
		}
		p := e.fields[k]
		switch {
		case p == nil && vals[k] == "":
		case p == nil:
			if err := insertField(s, e, k, vals[k], indent, flow); err != nil {
				return err
			}
		case vals[k] == "":
			if err := removeField(s, e, p, indent, flow); err != nil {
				return err
			}
		case scalarValue(p.value) != vals[k]:
			if err := setScalar(s, p, vals[k], indent, flow); err != nil {
				return err
			}
		}
	}
	return nil
}

// setScalar rewrites a value in place, keeping its quoting when the value allows.
func setScalar(s *splicer, p *pair, v string, indent int, flow bool) error {
	// `newTag:` with nothing after it: the value goes after the colon.
	if isImplicitNull(p.value) {
		at, err := colonAfter(s, p.key, flow)
		if err != nil {
			return err
		}
		s.replace(at, at, " "+formatScalar(v, 0, flow))
		return nil
	}
	start, end, err := s.scalarSpan(p.value, indent, flow)
	if err != nil {
		return err
	}
	// A block scalar (| or >) would need lines of its own; a tag or digest
	// fits on the key's line.
	style := p.value.Style
	if isNull(p.value) || style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		style = 0
	}
	s.replace(start, end, formatScalar(v, style, flow))
	return nil
}

// colonAfter is the offset just past the ':' that follows a mapping key.
func colonAfter(s *splicer, key *yaml.Node, flow bool) (int, error) {
	_, end, err := s.scalarSpan(key, 0, flow)
	if err != nil {
		return 0, err
	}
	for end < len(s.src) && (s.src[end] == ' ' || s.src[end] == '\t') {
		end++
	}
	if end >= len(s.src) || s.src[end] != ':' {
		return 0, unsupportedf(key.Line, "no ':' after key %s", key.Value)
	}
	return end + 1, nil
}

// insertField adds key k after the nearest earlier key (name always exists),
// so fields stay in kustomize's order and the diff is one added line.
func insertField(s *splicer, e *entry, k int, v string, indent int, flow bool) error {
	pred := e.fields[keyName]
	for j := k - 1; j > keyName; j-- {
		if e.fields[j] != nil {
			pred = e.fields[j]
			break
		}
	}
	end, err := s.nodeEnd(pred.value, indent, flow)
	if err != nil {
		return err
	}
	if flow {
		s.replace(end, end, ", "+keyNames[k]+": "+formatScalar(v, 0, true))
		return nil
	}
	s.insertLines(s.nextLine(end), strings.Repeat(" ", indent)+keyNames[k]+": "+formatScalar(v, 0, false))
	return nil
}

// removeField deletes a key and its value; a block pair goes with its whole line.
func removeField(s *splicer, e *entry, p *pair, indent int, flow bool) error {
	keyStart, err := s.offset(p.key)
	if err != nil {
		return err
	}
	valueEnd, err := s.nodeEnd(p.value, indent, flow)
	if err != nil {
		return err
	}
	switch {
	// In a flow mapping, cut from the end of the previous value: the comma
	// before this pair goes with it.
	case flow && p.idx > 0:
		prevEnd, err := s.nodeEnd(e.node.Content[p.idx-1], indent, true)
		if err != nil {
			return err
		}
		s.replace(prevEnd, valueEnd, "")
	// A pair on its own lines: the lines go, leaving no blank one behind.
	case !flow && len(bytes.TrimLeft(s.src[s.lineStart(keyStart):keyStart], " ")) == 0:
		s.replace(s.lineStart(keyStart), s.nextLine(valueEnd), "")
	default:
		// The first pair of a flow mapping, or the pair on a list item's dash line:
		// the next key moves up to where this one started.
		if p.idx+2 >= len(e.node.Content) {
			return unsupportedf(p.key.Line, "cannot remove the only key of images[%d]", e.index)
		}
		next, err := s.offset(e.node.Content[p.idx+2])
		if err != nil {
			return err
		}
		s.replace(keyStart, next, "")
	}
	return nil
}

// entryFields are the key/value pairs of a new entry in kustomize's order.
func entryFields(img Image) []string {
	vals, _ := img.fieldValues()
	var out []string
	for k, v := range vals {
		if v != "" {
			out = append(out, keyNames[k])
			out = append(out, v)
		}
	}
	return out
}

// blockEntry renders a new list item: the dash at dash, its keys at item.
func blockEntry(img Image, dash, item int) []string {
	f := entryFields(img)
	lines := make([]string, 0, len(f)/2)
	for i := 0; i < len(f); i += 2 {
		prefix := strings.Repeat(" ", item)
		if i == 0 {
			prefix = strings.Repeat(" ", dash) + "-" + strings.Repeat(" ", item-dash-1)
		}
		lines = append(lines, prefix+f[i]+": "+formatScalar(f[i+1], 0, false))
	}
	return lines
}

func flowEntry(img Image) string {
	f := entryFields(img)
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < len(f); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f[i] + ": " + formatScalar(f[i+1], 0, true))
	}
	b.WriteByte('}')
	return b.String()
}

// oddLineBreak finds a lone CR, NEL, LS or PS: the parser counts those as line
// breaks, and the splicer's positions would drift past them.
func oddLineBreak(src []byte) int {
	for i := 0; i < len(src); i++ {
		switch {
		case src[i] == '\r' && (i+1 == len(src) || src[i+1] != '\n'):
			return i
		case src[i] == 0xc2 && i+1 < len(src) && src[i+1] == 0x85:
			return i
		case src[i] == 0xe2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xa8 || src[i+2] == 0xa9):
			return i
		}
	}
	return -1
}
