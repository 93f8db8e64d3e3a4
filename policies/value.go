package policies

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The agent builds a decision's input from its own structures: maps of
// strings, numbers and slices, with evidence as Go structs (a Trivy
// report, a SonarQube gate). ast.InterfaceToValue converts a struct by
// encoding it to JSON and decoding that again; goValue reads it directly
// with the same result (the JSON encoding's field names, omitempty, null
// for nil), and leaves everything it does not read exactly so (a
// MarshalJSON method, floats, embedded fields, ...) to
// ast.InterfaceToValue.

// goValue is ast.InterfaceToValue(x), without the JSON round trip for the
// structs, maps and slices it knows.
func goValue(x any) (ast.Value, error) {
	switch x := x.(type) {
	case ast.Value:
		return x, nil
	case map[string]any:
		o := newObject(len(x))
		for k, e := range x {
			v, err := goValue(e)
			if err != nil {
				return nil, err
			}
			o.add(keyTerm(k), v)
		}
		return o.value(), nil
	case []any:
		terms := make([]*ast.Term, len(x))
		slab := make([]ast.Term, len(x))
		for i, e := range x {
			v, err := goValue(e)
			if err != nil {
				return nil, err
			}
			slab[i].Value = v
			terms[i] = &slab[i]
		}
		return ast.NewArray(terms...), nil
	case nil, bool, string, json.Number, int, int64, uint64, float64, []string, map[string]string:
		return ast.InterfaceToValue(x)
	}
	if v, ok := reflectValue(reflect.ValueOf(x)); ok {
		return v, nil
	}
	return ast.InterfaceToValue(x)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// reflectValue converts rv as its JSON encoding would read back; false
// when rv holds anything it does not convert exactly so.
func reflectValue(rv reflect.Value) (ast.Value, bool) {
	t := rv.Type()
	if customJSON(t) {
		return nil, false
	}
	switch rv.Kind() {
	case reflect.Bool:
		return ast.Boolean(rv.Bool()), true
	case reflect.String:
		s := rv.String()
		if !utf8.ValidString(s) {
			return nil, false // JSON would replace the bad bytes
		}
		return ast.String(s), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v, err := ast.InterfaceToValue(json.Number(strconv.FormatInt(rv.Int(), 10)))
		return v, err == nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, err := ast.InterfaceToValue(json.Number(strconv.FormatUint(rv.Uint(), 10)))
		return v, err == nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return ast.Null{}, true
		}
		if rv.Kind() == reflect.Interface {
			v, err := goValue(rv.Elem().Interface())
			return v, err == nil
		}
		return reflectValue(rv.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil, false // base64 in JSON
		}
		if rv.IsNil() {
			return ast.Null{}, true
		}
		terms := make([]*ast.Term, rv.Len())
		slab := make([]ast.Term, len(terms))
		for i := range terms {
			v, ok := reflectValue(rv.Index(i))
			if !ok {
				return nil, false
			}
			slab[i].Value = v
			terms[i] = &slab[i]
		}
		return ast.NewArray(terms...), true
	case reflect.Map:
		if t.Key().Kind() != reflect.String || customJSON(t.Key()) {
			return nil, false
		}
		if rv.IsNil() {
			return ast.Null{}, true
		}
		o := newObject(rv.Len())
		for it := rv.MapRange(); it.Next(); {
			k := it.Key().String()
			if !utf8.ValidString(k) {
				return nil, false
			}
			v, ok := reflectValue(it.Value())
			if !ok {
				return nil, false
			}
			o.add(keyTerm(k), v)
		}
		return o.value(), true
	case reflect.Struct:
		p := planFor(t)
		if p == nil {
			return nil, false
		}
		o := newObject(len(p))
		for _, f := range p {
			fv := rv.Field(f.index)
			if f.omitEmpty && emptyJSON(fv) {
				continue
			}
			v, ok := reflectValue(fv)
			if !ok {
				return nil, false
			}
			o.add(f.key, v)
		}
		return o.value(), true
	}
	return nil, false // floats, arrays, channels, functions, ...
}

// customJSON: t (or *t) encodes itself.
func customJSON(t reflect.Type) bool {
	if t.Kind() == reflect.Interface {
		return false // the dynamic value is looked at instead
	}
	pt := reflect.PointerTo(t)
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) || pt.Implements(jsonMarshaler) || pt.Implements(textMarshaler)
}

// emptyJSON is encoding/json's omitempty test.
func emptyJSON(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// field is one struct field as JSON encodes it.
type field struct {
	name      string
	key       *ast.Term // the name, shared by every object of the type
	index     int
	omitEmpty bool
}

var plans sync.Map // reflect.Type -> []field, or nil when not plain

// planFor lists t's encoded fields; nil when t is not a plain struct:
// embedded fields, tag options other than omitempty, names JSON would
// not take as they are, or two fields of one name.
func planFor(t reflect.Type) []field {
	if p, ok := plans.Load(t); ok {
		return p.([]field)
	}
	p := makePlan(t)
	plans.Store(t, p)
	return p
}

func makePlan(t reflect.Type) []field {
	p := []field{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		f := field{name: name, index: i}
		switch opts {
		case "":
		case "omitempty":
			f.omitEmpty = true
		default:
			return nil
		}
		if f.name == "" {
			f.name = sf.Name
		} else if !plainName(f.name) {
			return nil
		}
		if seen[f.name] {
			return nil
		}
		seen[f.name] = true
		f.key = ast.StringTerm(f.name)
		p = append(p, f)
	}
	return p
}

// plainName: a tag name JSON uses as it is.
func plainName(s string) bool {
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// reads is what of the input the policies can see: the paths of input
// their rules name, each read whole from where its ref stops being a
// fixed key (input.evidence.trivy.findings[_] reads every finding). A
// decision converts only these: a field no rule names (the Trivy image
// report the top-level fields repeat, the candidate's digest, ...) cannot
// change its answer.
type reads struct {
	all  bool // the whole value below here is read
	kids map[string]*reads
}

func (r *reads) add(path []string) {
	for _, k := range path {
		if r.all {
			return
		}
		if r.kids == nil {
			r.kids = map[string]*reads{}
		}
		next := r.kids[k]
		if next == nil {
			next = &reads{}
			r.kids[k] = next
		}
		r = next
	}
	r.all, r.kids = true, nil
}

// inputReads collects every ref to input in the parsed modules (before the
// compiler moves refs out of calls into variables). object.get on a ref
// to input with a fixed key reads that key; input named otherwise than as
// the head of a ref (a bare input, an import of it) reads it all.
func inputReads(mods map[string]*ast.Module) *reads {
	r := &reads{}
	var visit func(x any) bool
	walk := func(x any) { ast.NewGenericVisitor(visit).Walk(x) }
	visit = func(x any) bool {
		switch x := x.(type) {
		case *ast.Import:
			if x.Path.Value.(ast.Ref).HasPrefix(ast.InputRootRef) {
				r.add(nil)
			}
			return true
		case ast.Call:
			if len(x) == 4 && x[0].Value.Compare(objectGet) == 0 {
				if path, ok := inputPath(x[1]); ok {
					if keys, ok := fixedKeys(x[2]); ok {
						r.add(append(path, keys...))
						walkKeys(x[1], walk)
						walk(x[3])
						return true
					}
				}
			}
		case ast.Ref:
			path, ok := inputPath(ast.NewTerm(x))
			if !ok {
				return false
			}
			r.add(path)
			walkKeys(ast.NewTerm(x), walk)
			return true
		case ast.Var:
			if x.Equal(ast.InputRootDocument.Value) {
				r.add(nil)
			}
		}
		return false
	}
	for _, m := range mods {
		walk(m)
	}
	// What a timeout's message names (describeInput).
	r.add([]string{"app", "name"})
	r.add([]string{"candidate", "version"})
	r.add([]string{"environment", "name"})
	return r
}

var objectGet = ast.MustParseRef("object.get")

// inputPath is the fixed keys of a ref to input up to its first other
// term (input.evidence.trivy.findings[_] is evidence, trivy, findings).
func inputPath(t *ast.Term) ([]string, bool) {
	ref, ok := t.Value.(ast.Ref)
	if !ok || !ref[0].Equal(ast.InputRootDocument) {
		return nil, false
	}
	path := []string{}
	for _, k := range ref[1:] {
		s, ok := k.Value.(ast.String)
		if !ok {
			break
		}
		path = append(path, string(s))
	}
	return path, true
}

// walkKeys walks the terms of a ref after its head: its keys may read
// input too (input.a[input.b]).
func walkKeys(t *ast.Term, walk func(any)) {
	for _, k := range t.Value.(ast.Ref)[1:] {
		walk(k)
	}
}

// fixedKeys is object.get's key: a string, or an array of strings (a path).
func fixedKeys(t *ast.Term) ([]string, bool) {
	switch k := t.Value.(type) {
	case ast.String:
		return []string{string(k)}, true
	case *ast.Array:
		keys := make([]string, 0, k.Len())
		for i := range k.Len() {
			s, ok := k.Elem(i).Value.(ast.String)
			if !ok {
				return nil, false
			}
			keys = append(keys, string(s))
		}
		return keys, true
	}
	return nil, false
}

// readValue converts of x what r reads.
func readValue(x map[string]any, r *reads) (ast.Value, error) {
	if r.all {
		return goValue(x)
	}
	items := make([][2]*ast.Term, 0, len(r.kids))
	for k, kid := range r.kids {
		e, ok := x[k]
		if !ok {
			continue
		}
		var v ast.Value
		var err error
		if m, ok := e.(map[string]any); ok && !kid.all {
			v, err = readValue(m, kid)
		} else {
			v, err = goValue(e)
		}
		if err != nil {
			return nil, err
		}
		items = append(items, [2]*ast.Term{keyTerm(k), ast.NewTerm(v)})
	}
	return ast.NewObject(items...), nil
}

// object builds an ast.Object with one allocation for its value terms
// rather than one each.
type object struct {
	items [][2]*ast.Term
	slab  []ast.Term
}

func newObject(n int) object {
	return object{items: make([][2]*ast.Term, 0, n), slab: make([]ast.Term, n)}
}

func (o *object) add(k *ast.Term, v ast.Value) {
	t := &o.slab[len(o.items)]
	t.Value = v
	o.items = append(o.items, [2]*ast.Term{k, t})
}

func (o *object) value() ast.Object { return ast.NewObject(o.items...) }

// keyTerms shares the terms of object keys across decisions (the input's
// keys are few: field names, environment and metric names); terms are
// never modified once built. Bounded: past maxKeyTerms keys, or for a key
// longer than maxKeyTermLen (from an attestation's predicate, say), a key
// gets its own.
var keyTerms sync.Map // string -> *ast.Term

var keyTermCount atomic.Int64

const (
	maxKeyTerms   = 4096
	maxKeyTermLen = 64
)

func keyTerm(k string) *ast.Term {
	if len(k) > maxKeyTermLen {
		return ast.InternedTerm(k)
	}
	if t, ok := keyTerms.Load(k); ok {
		return t.(*ast.Term)
	}
	t := ast.InternedTerm(k)
	if keyTermCount.Load() < maxKeyTerms {
		if _, loaded := keyTerms.LoadOrStore(k, t); !loaded {
			keyTermCount.Add(1)
		}
	}
	return t
}
