package docs

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// schema is the part of a JSON Schema the policy input's uses.
type schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Properties           map[string]*schema `json:"properties"`
	Items                *schema            `json:"items"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	Definitions          map[string]*schema `json:"definitions"`
}

// inputFields walks policies/input.schema.json: every field of input.*
// with its type in words. Lists add "[]", maps a "<name>" placeholder.
func inputFields(t *testing.T) []key {
	t.Helper()
	data, err := os.ReadFile("../policies/input.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root schema
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	resolve := func(s *schema) *schema {
		if name, ok := strings.CutPrefix(s.Ref, "#/definitions/"); ok {
			d, found := root.Definitions[name]
			if !found {
				t.Fatalf("input.schema.json: unknown $ref %s", s.Ref)
			}
			return d
		}
		return s
	}
	var out []key
	var typeOf func(s *schema) string
	typeOf = func(s *schema) string {
		s = resolve(s)
		switch s.Type {
		case "array":
			return "list of " + typeOf(s.Items) + "s"
		case "object":
			if m := mapOf(s); m != nil {
				return "map of " + typeOf(m) + "s"
			}
		}
		return s.Type
	}
	var walk func(s *schema, path string)
	walk = func(s *schema, path string) {
		s = resolve(s)
		names := make([]string, 0, len(s.Properties))
		for n := range s.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := s.Properties[n]
			p := path + "." + n
			out = append(out, key{p, typeOf(c)})
			walk(c, p)
		}
		if s.Items != nil {
			walk(s.Items, path+"[]")
		}
		if m := mapOf(s); m != nil {
			walk(m, path+".<name>")
		}
	}
	walk(&root, "input")
	return out
}

// mapOf is the schema of a map's values, nil when s is not a map.
func mapOf(s *schema) *schema {
	if len(s.AdditionalProperties) == 0 || s.AdditionalProperties[0] != '{' {
		return nil
	}
	var m schema
	if err := json.Unmarshal(s.AdditionalProperties, &m); err != nil {
		return nil
	}
	return &m
}

// TestPolicyInputReference: docs/policy-input.md documents every field of
// the policy input schema with its type, and nothing the schema lacks.
func TestPolicyInputReference(t *testing.T) {
	fields := inputFields(t)
	checkDocumented(t, "policy-input.md", fields, "in policies/input.schema.json")
	if len(fields) < 50 {
		t.Fatalf("read %d fields from the schema; the walk broke", len(fields))
	}
}

// TestPolicyInputExample: the page's example holds only fields of the
// schema, each of its type, and every field the schema requires at the top.
func TestPolicyInputExample(t *testing.T) {
	data, err := os.ReadFile("policy-input.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "```json\n")
	example, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("policy-input.md has no json example")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	types := map[string]string{}
	for _, f := range inputFields(t) {
		types[f.path] = f.typ
		// A list's or a map's entries have the element's type.
		if e, ok := strings.CutPrefix(f.typ, "list of "); ok {
			types[f.path+"[]"] = strings.TrimSuffix(e, "s")
		}
		if e, ok := strings.CutPrefix(f.typ, "map of "); ok {
			types[f.path+".<name>"] = strings.TrimSuffix(e, "s")
		}
	}
	seen := 0
	var walk func(v any, path string, asMap bool)
	walk = func(v any, path string, asMap bool) {
		seen++
		want, ok := types[path]
		if path != "input" && !ok {
			t.Errorf("example: %s is not in the schema", path)
			return
		}
		var got string
		switch v := v.(type) {
		case map[string]any:
			got = "object"
			isMap := strings.HasPrefix(want, "map of")
			if isMap {
				got = want
			}
			for k, c := range v {
				if isMap {
					walk(c, path+".<name>", false)
				} else {
					walk(c, path+"."+k, false)
				}
			}
		case []any:
			got = want // the entries' types are checked one by one
			for _, c := range v {
				walk(c, path+"[]", false)
			}
		case string:
			got = "string"
		case bool:
			got = "boolean"
		case float64:
			got = "number"
			if want == "integer" && v == float64(int64(v)) {
				got = "integer"
			}
		}
		if path != "input" && got != want && !strings.HasPrefix(want, "list of") {
			t.Errorf("example: %s is a %s, the schema says %s", path, got, want)
		}
	}
	walk(doc, "input", false)
	for _, req := range []string{"app", "environment", "candidate", "time"} {
		if _, ok := doc[req]; !ok {
			t.Errorf("example lacks the required %s", req)
		}
	}
	if seen < 40 {
		t.Errorf("example walked %d values; it should show most fields", seen)
	}
}
