package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/ferry-dev/ferry/internal/text"
)

// schema checks a YAML tree against the Go types before goccy decodes it.
// goccy's strict mode stops at the first problem and, with several unknown
// keys in one mapping, picks one at random; this walk reports every unknown
// field, wrong kind and bad duration in document order, each with its YAML
// path and line:col, and records where each path was written for Validate.
type schema struct {
	source  string
	pos     positions
	errs    []error
	anchors map[string]ast.Node
	depth   int
}

// maxAliasDepth bounds alias expansion (a billion-laughs document).
const maxAliasDepth = 64

var (
	durationType = reflect.TypeFor[Duration]()
	pipelineType = reflect.TypeFor[Pipeline]()
)

// checkSchema walks body as a Pipeline: every problem found, and where
// each path was written.
func checkSchema(source string, body ast.Node) (positions, []error) {
	s := &schema{source: source, pos: positions{}, anchors: map[string]ast.Node{}}
	s.walk(body, pipelineType, "")
	return s.pos, s.errs
}

func (s *schema) fail(n ast.Node, path, format string, args ...any) {
	e := &Error{Source: s.source, Path: path, Message: fmt.Sprintf(format, args...)}
	if p, ok := nodePos(n); ok {
		e.Line, e.Column = p.line, p.col
	}
	s.errs = append(s.errs, e)
}

// resolve looks through anchors, aliases and tags to the node holding data.
func (s *schema) resolve(n ast.Node) ast.Node {
	for range maxAliasDepth {
		switch v := n.(type) {
		case *ast.AnchorNode:
			if v.Name != nil && v.Name.GetToken() != nil {
				s.anchors[v.Name.GetToken().Value] = v.Value
			}
			n = v.Value
		case *ast.AliasNode:
			if v.Value == nil || v.Value.GetToken() == nil {
				return nil
			}
			target, ok := s.anchors[v.Value.GetToken().Value]
			if !ok {
				return nil // goccy reports the unknown alias when decoding
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return nil
}

func (s *schema) walk(n ast.Node, t reflect.Type, path string) {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > maxAliasDepth {
		s.fail(n, path, "%s: nested too deeply", describePath(path))
		return
	}
	// Taken before resolving, so an error points where a value is used,
	// not where its anchor was defined.
	if p, ok := nodePos(n); ok {
		if _, seen := s.pos[path]; !seen {
			s.pos[path] = p
		}
	}
	orig := n
	n = s.resolve(n)
	if n == nil || n.Type() == ast.NullType {
		return // null leaves the zero value
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s.duration(orig, n, path)
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		return // free-form (canary, evidence, providers, ...)
	case reflect.Struct:
		s.mapping(n, path, func(key string, kn, vn ast.Node) {
			ft, ok := fieldType(t, key)
			if !ok {
				msg := "unknown field " + quote(key)
				if path != "" {
					msg += " in " + path
				}
				if hint := suggest(key, fieldNames(t)); hint != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", hint)
				}
				s.fail(kn, path, "%s", msg)
				return
			}
			s.walk(vn, ft, joinPath(path, key))
		})
	case reflect.Map:
		s.mapping(n, path, func(key string, _, vn ast.Node) {
			s.walk(vn, t.Elem(), mapKeyPath(path, key))
		})
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			s.fail(n, path, "%s: expected a list, found %s", describePath(path), describe(n))
			return
		}
		for i, item := range seq.Values {
			if t.Elem().Kind() == reflect.String {
				if str, ok := joinedScalar(item); ok {
					seq.Values[i], item = str, str
				}
			}
			s.walk(item, t.Elem(), indexPath(path, i))
		}
	case reflect.String:
		if _, ok := n.(ast.ScalarNode); !ok {
			hint := ""
			// goccy reads [team:owners] nested in a flow mapping as a
			// mapping; approval.from entries are written that way.
			mv, _ := n.(*ast.MappingValueNode)
			if m, ok := n.(*ast.MappingNode); ok && len(m.Values) == 1 {
				mv = m.Values[0]
			}
			if mv != nil && mv.Key != nil && mv.Value != nil {
				hint = fmt.Sprintf(" (quote a value with a colon inside [ ]: \"%s:%s\")", text.Truncate(mv.Key.String(), 40), text.Truncate(mv.Value.String(), 40))
			}
			s.fail(n, path, "%s: expected a string, found %s%s", describePath(path), describe(n), hint)
		}
	case reflect.Bool:
		// Only true or false: "yes" is a string in YAML 1.2 and a boolean in
		// 1.1, so it is refused, not guessed.
		if n.Type() != ast.BoolType {
			s.fail(n, path, "%s: expected true or false, found %s", describePath(path), describe(n))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		// 1.5 or "5" for a count is refused, not truncated or converted.
		if n.Type() != ast.IntegerType {
			s.fail(n, path, "%s: expected an integer, found %s", describePath(path), describe(n))
		}
	case reflect.Float64, reflect.Float32:
		if n.Type() != ast.IntegerType && n.Type() != ast.FloatType {
			s.fail(n, path, "%s: expected a number, found %s", describePath(path), describe(n))
		}
	}
}

// mapping calls each for every key of a mapping node, following merge keys.
func (s *schema) mapping(n ast.Node, path string, each func(key string, kn, vn ast.Node)) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		s.fail(n, path, "%s: expected a mapping, found %s", describePath(path), describe(n))
		return
	}
	explicit := false
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		if mv.Key.IsMergeKey() {
			if explicit {
				// goccy lets a later merge override earlier keys, against
				// YAML's rule that the mapping's own keys win: refuse it.
				s.fail(mv.Key, path, "%s: put \"<<\" before the mapping's own keys", describePath(path))
			}
			s.merge(mv.Value, path, each)
			continue
		}
		explicit = true
		key := s.resolve(mv.Key)
		sc, ok := key.(ast.ScalarNode)
		if !ok {
			s.fail(mv.Key, path, "%s: mapping keys must be plain strings", describePath(path))
			continue
		}
		each(fmt.Sprint(sc.GetValue()), mv.Key, mv.Value)
	}
}

// merge applies "<<: *anchor" or "<<: [*a, *b]" to the mapping at path.
func (s *schema) merge(v ast.Node, path string, each func(key string, kn, vn ast.Node)) {
	// Merges chain through anchors, so they count against the same bound.
	if s.depth > maxAliasDepth {
		return
	}
	s.depth++
	defer func() { s.depth-- }()
	r := s.resolve(v)
	if seq, ok := r.(*ast.SequenceNode); ok {
		for _, item := range seq.Values {
			s.mapping(s.resolve(item), path, each)
		}
		return
	}
	if r != nil {
		s.mapping(r, path, each)
	}
}

// duration is checked here, not left to decoding, so a bad duration is
// reported with its line and column beside every other problem.
func (s *schema) duration(orig, n ast.Node, path string) {
	sc, ok := n.(ast.ScalarNode)
	if !ok {
		s.fail(orig, path, "%s: expected a duration such as 30s or 5m, found %s", describePath(path), describe(n))
		return
	}
	var d Duration
	if err := d.UnmarshalText([]byte(fmt.Sprint(sc.GetValue()))); err != nil {
		s.fail(orig, path, "%s: %v (write it like 30s, 5m or 1h30m)", describePath(path), err)
	}
}

// fieldType finds the struct field decoded from key, by its yaml tag.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, ok := YAMLKey(f); ok && name == key {
			return f.Type, true
		}
	}
	return nil, false
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, ok := YAMLKey(t.Field(i)); ok {
			names = append(names, name)
		}
	}
	return names
}

// YAMLKey is the ferry.yaml key of a config struct field; ok is false for
// a field that has none (unexported, or tagged "-").
func YAMLKey(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true // goccy's rule for untagged fields
	}
	return name, true
}

// suggest returns the known name closest to key when it is a likely typo:
// two edits at most, since a farther guess misleads more than it helps.
func suggest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if strings.HasPrefix(n, key) && len(key) >= 3 {
			return n // "username" for "usernameFile"
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, for short field names only.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describePath(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// describe names a node's kind, with short scalar values quoted.
func describe(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.BoolType:
		return "boolean " + n.GetToken().Value
	case ast.IntegerType:
		return "integer " + n.GetToken().Value
	case ast.FloatType:
		return "number " + n.GetToken().Value
	}
	if sc, ok := n.(ast.ScalarNode); ok {
		v := fmt.Sprint(sc.GetValue())
		v = text.Truncate(v, 40) // never inside a character
		return fmt.Sprintf("string %q", v)
	}
	return strings.ToLower(n.Type().String())
}

// nodePos is where a node starts: the first key of a block mapping, the
// token otherwise (goccy puts a block mapping's token on its first ':').
func nodePos(n ast.Node) (position, bool) {
	if n == nil {
		return position{}, false
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0].Key != nil {
		return nodePos(m.Values[0].Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return position{}, false
	}
	return position{tk.Position.Line, tk.Position.Column}, true
}

// joinedScalar undoes a goccy misreading: inside a flow mapping, the flow
// list entry team:owners (a plain scalar in YAML, the colon followed by no
// space) is read as the mapping {team: owners}. approval.from is written
// that way, as approval: {required: 1, from: [user:alice]}. A real mapping
// ("team: owners", with the space) is left alone.
func joinedScalar(n ast.Node) (*ast.StringNode, bool) {
	m, ok := n.(*ast.MappingNode)
	if !ok || len(m.Values) != 1 || m.Values[0].Key == nil || m.Values[0].Value == nil {
		return nil, false
	}
	k, v := m.Values[0].Key.GetToken(), m.Values[0].Value.GetToken()
	key, isString := m.Values[0].Key.(*ast.StringNode)
	_, scalar := m.Values[0].Value.(ast.ScalarNode)
	if !isString || !scalar || k == nil || v == nil || k.Position == nil || v.Position == nil ||
		k.Type != token.StringType || v.Type == token.DoubleQuoteType || v.Type == token.SingleQuoteType {
		return nil, false
	}
	// key:value with nothing between the colon and the value.
	if k.Position.Line != v.Position.Line || v.Position.Column != k.Position.Column+len([]rune(k.Value))+1 {
		return nil, false
	}
	tk := *k
	tk.Value = key.Value + ":" + v.Value
	tk.Origin = tk.Value
	return ast.String(&tk), true
}
