package gitstate

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ferry-dev/ferry/internal/text"
	"github.com/ferry-dev/ferry/internal/yamlerr"
)

// APIVersion is the apiVersion of both files.
const APIVersion = "ferry.dev/v1alpha1"

// bom is the UTF-8 byte order mark an edit keeps where the file had it.
var bom = []byte("\xef\xbb\xbf")

// document is one parsed file: the nodes that edits need to find again.
type document struct {
	body  ast.Node                // the top-level mapping; nil for an empty file
	pairs []*ast.MappingValueNode // its keys, in order
	list  *ast.MappingValueNode   // the list's key; nil when absent
	items []ast.Node              // the list's entries
}

// scalar is one written value, kept as its text: "1.10" stays "1.10"
// rather than becoming the number 1.1.
type scalar struct {
	text string
	at   pos
	ok   bool // a non-null value was written
}

// field binds a key of a mapping to where its value goes (s or list).
type field struct {
	name string
	s    *scalar
	list *[]scalar
}

// parseDocument checks the YAML syntax, the header and the top-level keys
// of a file of the given kind, and finds the entries of its list key. A
// file with no document (empty or only comments) gives an empty document.
func parseDocument(source string, data []byte, kind, key string) (*document, error) {
	data, err := yamlerr.Prepare(source, data) // BOM, CRLF, UTF-8
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlerr.FromParser(source, err)
	}
	var bodies []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil && d.Body.Type() != ast.CommentType {
			bodies = append(bodies, d.Body)
		}
	}
	switch len(bodies) {
	case 0:
		return &document{}, nil
	case 1:
	default:
		return nil, &Error{Source: source, Line: nodePos(bodies[1]).line, Column: nodePos(bodies[1]).col,
			Message: fmt.Sprintf("holds %d YAML documents; want exactly one %s", len(bodies), kind)}
	}
	ps := newProblems(source)
	body := unwrap(ps, bodies[0], "")
	pairs, ok := mapPairs(body)
	if !ok {
		if ps.Len() == 0 {
			found := bodies[0]
			if body != nil {
				found = body
			}
			ps.add(nodePos(found), "", "top level must be a mapping (apiVersion, kind, %s), found %s", key, describe(found))
		}
		return nil, ps.err()
	}
	if err := checkHeader(ps, body, kind); err != nil {
		return nil, err
	}
	doc := &document{body: body, pairs: pairs}
	var list ast.Node
	var skip scalar
	top := []field{{name: "apiVersion", s: &skip}, {name: "kind", s: &skip}, {name: key}}
	decodeMap(ps, body, "", top, func(kv *ast.MappingValueNode) { doc.list, list = kv, kv.Value })
	if err := ps.err(); err != nil {
		return nil, err
	}
	switch n := unwrap(ps, list, key).(type) {
	case nil, *ast.NullNode:
	case *ast.SequenceNode:
		doc.items = n.Values
	default:
		ps.add(nodePos(n), key, "want a list, found %s", describe(n))
	}
	return doc, ps.err()
}

// checkHeader rejects a document of another kind before its fields are
// checked, so a wrong file gives one clear error, not dozens.
func checkHeader(ps *problems, body ast.Node, kind string) error {
	var apiVersion, kindValue scalar
	decodeMap(newProblems(""), body, "", []field{{name: "apiVersion", s: &apiVersion}, {name: "kind", s: &kindValue}}, nil)
	for _, h := range []struct {
		name string
		got  scalar
		want string
	}{{"apiVersion", apiVersion, APIVersion}, {"kind", kindValue, kind}} {
		switch {
		case !h.got.ok && h.got.at.line == 0:
			ps.add(nodePos(body), h.name, "required; want %q", h.want)
		case !h.got.ok:
			ps.add(h.got.at, h.name, "want %q", h.want)
		case h.got.text != h.want:
			ps.add(h.got.at, h.name, "%q is not supported; want %q", h.got.text, h.want)
		}
	}
	return ps.err()
}

// decodeMap assigns the keys of mapping n to fields, reporting unknown keys
// and values of the wrong shape. A field with neither s nor list is handed
// to other; the caller looks at it itself.
func decodeMap(ps *problems, n ast.Node, path string, fields []field, other func(*ast.MappingValueNode)) {
	n = unwrap(ps, n, path)
	pairs, ok := mapPairs(n)
	if !ok {
		if n != nil {
			ps.add(nodePos(n), path, "want a mapping, found %s", describe(n))
		}
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	for _, kv := range pairs {
		k, ok := kv.Key.(*ast.StringNode)
		if !ok {
			ps.add(nodePos(kv.Key), path, "keys must be plain names, found %s", describe(kv.Key))
			continue
		}
		i := indexOf(names, k.Value)
		if i < 0 {
			ps.add(nodePos(kv.Key), joinPath(path, k.Value), "unknown field; want one of %s", strings.Join(names, ", "))
			continue
		}
		f, at := fields[i], joinPath(path, k.Value)
		switch {
		case f.s != nil:
			setScalar(ps, kv.Value, at, f.s)
		case f.list != nil:
			setList(ps, kv.Value, at, f.list)
		case other != nil:
			other(kv)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func setScalar(ps *problems, n ast.Node, path string, dst *scalar) {
	n = unwrap(ps, n, path)
	if n == nil {
		return
	}
	dst.at = nodePos(n)
	switch v := n.(type) {
	case *ast.NullNode:
		return
	case *ast.StringNode:
		dst.text = v.Value
	case *ast.LiteralNode:
		if v.Value != nil {
			dst.text = v.Value.Value
		}
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		dst.text = v.GetToken().Value // as written: "1.10", not 1.1
	default:
		ps.add(dst.at, path, "want a single value, found %s", describe(n))
		return
	}
	dst.ok = true
}

func setList(ps *problems, n ast.Node, path string, dst *[]scalar) {
	switch v := unwrap(ps, n, path).(type) {
	case nil, *ast.NullNode:
	case *ast.SequenceNode:
		for i, item := range v.Values {
			var s scalar
			setScalar(ps, item, indexPath(path, i), &s)
			*dst = append(*dst, s)
		}
	default:
		ps.add(nodePos(v), path, "want a list such as [a, b], found %s", describe(v))
	}
}

// unwrap looks through the tags that only restate a node's kind. Anchors
// and aliases are refused: these small files do not need them, and edits
// that remove an anchored entry would break its aliases.
func unwrap(ps *problems, n ast.Node, path string) ast.Node {
	for n != nil {
		switch v := n.(type) {
		case *ast.TagNode:
			tag := ""
			if v.Start != nil {
				tag = v.Start.Value
			}
			if tag != "!!str" && tag != "!!map" && tag != "!!seq" {
				ps.add(nodePos(n), path, "tag %s is not supported here", tag)
				return nil
			}
			n = v.Value
		case *ast.AnchorNode, *ast.AliasNode:
			ps.add(nodePos(n), path, "anchors and aliases are not supported in this file")
			return nil
		default:
			return n
		}
	}
	return nil
}

// mapPairs returns the keys of a mapping node in order.
func mapPairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

// describe names a node's kind, with short scalar values quoted.
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.NullType:
		return "null"
	}
	if sc, ok := n.(ast.ScalarNode); ok {
		v := fmt.Sprint(sc.GetValue())
		v = text.Truncate(v, 40) // never inside a character
		return fmt.Sprintf("%q", v)
	}
	return strings.ToLower(n.Type().String())
}

// nodePos is where a node starts: the first key of a block mapping, the
// token otherwise (goccy puts a block mapping's token on its first ':').
func nodePos(n ast.Node) pos {
	if n == nil {
		return pos{}
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0].Key != nil {
		return nodePos(m.Values[0].Key)
	}
	if m, ok := n.(*ast.MappingValueNode); ok && m.Key != nil {
		return nodePos(m.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return pos{}
	}
	return pos{tk.Position.Line, tk.Position.Column}
}
