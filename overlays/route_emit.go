package overlays

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// blockStyle is how a file lays out block YAML: a nested mapping's keys sit mi
// columns deeper than its key, a list's dash dashOff columns deeper than its key and
// an item's content gap columns after its dash.
type blockStyle struct{ mi, dashOff, gap int }

// defaultBlockStyle is kustomize's and kubectl's layout, for files that show
// none of their own.
var defaultBlockStyle = blockStyle{mi: 2, dashOff: 0, gap: 2}

// newMap builds a block mapping from key/value pairs.
func newMap(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Content = append(m.Content, newStr(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return m
}

func newSeq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

func newStr(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func newInt(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v}
}

// clone deep-copies a node without positions, comments or anchors, as block YAML:
// a copy is written as new lines, never spliced where its source was.
func clone(n *yaml.Node) *yaml.Node {
	n = deref(n)
	c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value}
	// Quoting is kept so the copy reads as the same value; explicit tags
	// and flow style are dropped.
	if n.Kind == yaml.ScalarNode {
		c.Style = n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle)
	}
	for _, ch := range n.Content {
		c.Content = append(c.Content, clone(ch))
	}
	return c
}

// scalarText renders a scalar on one line, as the YAML encoder quotes it.
func scalarText(n *yaml.Node, line int) (string, error) {
	c := &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value, Style: n.Style &^ (yaml.LiteralStyle | yaml.FoldedStyle)}
	// The encoder decides the quoting, so a value that needs quotes gets
	// them.
	out, err := yaml.Marshal(c)
	if err != nil {
		return "", routeUnsupportedf(line, "cannot write %s: %v", kindName(n), err)
	}
	// One line only: new text is inserted as whole lines, and a value's
	// continuation lines would need the indentation of wherever it lands.
	text := strings.TrimSuffix(string(out), "\n")
	if strings.ContainsAny(text, "\r\n") {
		return "", routeUnsupportedf(line, "cannot write %s on one line", kindName(n))
	}
	return text, nil
}

// mapLines renders a block mapping whose keys start at column col. line names the
// source line in errors.
func (st blockStyle) mapLines(m *yaml.Node, col, line int) ([]string, error) {
	pad := strings.Repeat(" ", col)
	var out []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, err := scalarText(m.Content[i], line)
		if err != nil {
			return nil, err
		}
		v := m.Content[i+1]
		switch {
		case v.Kind == yaml.ScalarNode:
			text, err := scalarText(v, line)
			if err != nil {
				return nil, err
			}
			out = append(out, pad+key+": "+text)
		// Empty collections are written inline: a bare `key:` reads as null.
		case v.Kind == yaml.MappingNode && len(v.Content) == 0:
			out = append(out, pad+key+": {}")
		case v.Kind == yaml.SequenceNode && len(v.Content) == 0:
			out = append(out, pad+key+": []")
		case v.Kind == yaml.MappingNode:
			sub, err := st.mapLines(v, col+st.mi, line)
			if err != nil {
				return nil, err
			}
			out = append(append(out, pad+key+":"), sub...)
		case v.Kind == yaml.SequenceNode:
			sub, err := st.seqLines(v, col+st.dashOff, line)
			if err != nil {
				return nil, err
			}
			out = append(append(out, pad+key+":"), sub...)
		default:
			return nil, routeUnsupportedf(line, "cannot write %s", kindName(v))
		}
	}
	return out, nil
}

// seqLines renders a block list whose dashes sit at column dash.
func (st blockStyle) seqLines(seq *yaml.Node, dash, line int) ([]string, error) {
	pad := strings.Repeat(" ", dash)
	var out []string
	for _, it := range seq.Content {
		switch {
		case it.Kind == yaml.ScalarNode:
			text, err := scalarText(it, line)
			if err != nil {
				return nil, err
			}
			out = append(out, pad+"- "+text)
		case it.Kind == yaml.MappingNode && len(it.Content) > 0:
			sub, err := st.mapLines(it, dash+st.gap, line)
			if err != nil {
				return nil, err
			}
			// The first key moves onto the dash's line, at the file's gap.
			sub[0] = pad + "-" + strings.Repeat(" ", st.gap-1) + sub[0][dash+st.gap:]
			out = append(out, sub...)
		case it.Kind == yaml.MappingNode:
			out = append(out, pad+"- {}")
		default:
			return nil, routeUnsupportedf(line, "cannot write a list in a list")
		}
	}
	return out, nil
}
