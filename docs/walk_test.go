package docs

import (
	"reflect"

	"github.com/ferry-dev/ferry/agent/config"
)

// key is one ferry.yaml key: its path and its type in words.
type key struct{ path, typ string }

var durationType = reflect.TypeFor[config.Duration]()

// configKeys walks the config types by reflection, as the strict decoder
// reads them (yaml tags; untagged fields lowercased): every key ferry.yaml
// may hold. Lists add "[]" to the path, maps a "<name>" placeholder.
func configKeys() []key {
	var out []key
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := config.YAMLKey(f)
			if !ok {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			out = append(out, key{p, typeName(ft)})
			switch {
			case ft == durationType:
			case ft.Kind() == reflect.Struct:
				walk(ft, p)
			case ft.Kind() == reflect.Slice && elem(ft).Kind() == reflect.Struct:
				walk(elem(ft), p+"[]")
			case ft.Kind() == reflect.Map && elem(ft).Kind() == reflect.Struct:
				walk(elem(ft), p+".<name>")
			}
		}
	}
	walk(reflect.TypeFor[config.Pipeline](), "")
	return out
}

func elem(t reflect.Type) reflect.Type {
	t = t.Elem()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// typeName is how the reference names a Go type.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		return "object"
	case reflect.Slice:
		if e := elem(t); e.Kind() == reflect.Struct {
			return "list of objects"
		}
		return "list of " + typeName(t.Elem()) + "s"
	case reflect.Map:
		if e := elem(t); e.Kind() == reflect.Struct {
			return "map of objects"
		}
		return "map of " + typeName(t.Elem()) + "s"
	}
	return t.Kind().String()
}
