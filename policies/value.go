package policies

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
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
		items := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			v, err := goValue(e)
			if err != nil {
				return nil, err
			}
			items = append(items, [2]*ast.Term{ast.InternedTerm(k), ast.NewTerm(v)})
		}
		return ast.NewObject(items...), nil
	case []any:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			v, err := goValue(e)
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(v)
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
		for i := range terms {
			v, ok := reflectValue(rv.Index(i))
			if !ok {
				return nil, false
			}
			terms[i] = ast.NewTerm(v)
		}
		return ast.NewArray(terms...), true
	case reflect.Map:
		if t.Key().Kind() != reflect.String || customJSON(t.Key()) {
			return nil, false
		}
		if rv.IsNil() {
			return ast.Null{}, true
		}
		items := make([][2]*ast.Term, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			k := it.Key().String()
			if !utf8.ValidString(k) {
				return nil, false
			}
			v, ok := reflectValue(it.Value())
			if !ok {
				return nil, false
			}
			items = append(items, [2]*ast.Term{ast.InternedTerm(k), ast.NewTerm(v)})
		}
		return ast.NewObject(items...), true
	case reflect.Struct:
		p := planFor(t)
		if p == nil {
			return nil, false
		}
		items := make([][2]*ast.Term, 0, len(p))
		for _, f := range p {
			fv := rv.Field(f.index)
			if f.omitEmpty && emptyJSON(fv) {
				continue
			}
			v, ok := reflectValue(fv)
			if !ok {
				return nil, false
			}
			items = append(items, [2]*ast.Term{ast.InternedTerm(f.name), ast.NewTerm(v)})
		}
		return ast.NewObject(items...), true
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
