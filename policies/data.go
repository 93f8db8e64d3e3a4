package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"sigs.k8s.io/yaml"
)

// DataFile is a JSON or YAML file of a policy directory loaded as data, the
// way `opa run DIR` and `opa eval -d DIR` load one: its document sits under
// data at the file's directory, relative to the policy directory.
type DataFile struct {
	File string `json:"file"` // relative to the policy directory
	Path string `json:"path"` // where the document is merged: "data", "data.teams"
}

// isDataName reports whether a file name found in a policy directory is
// data. JSON Schemas (input.schema.json and any *.schema.json) are not: a
// schema read as data would sit under data for every policy to see.
// Hidden files are skipped like hidden directories.
func isDataName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".schema.json") {
		return false
	}
	switch path.Ext(name) {
	case ".json", ".yaml", ".yml":
		return true
	}
	return false
}

// policyData is the data document built from a policy directory's files.
type policyData struct {
	doc   map[string]any // merged; numbers are json.Number
	files []DataFile
	// per-file documents, already placed under their directory, to say which
	// file set a path when something conflicts with it.
	placed []placedDoc
}

type placedDoc struct {
	name string // as errors name files: dir/rel
	doc  map[string]any
}

// loadData parses and merges data files (sorted by rel) as opa does: a file
// at the root must hold an object, merged into data's root; a file in
// teams/ is data.teams. Two files may add keys to the same object but
// never set the same value: that is an error naming both files.
func loadData(srcs []source) (*policyData, error) {
	pd := &policyData{doc: map[string]any{}}
	for _, s := range srcs {
		v, err := parseData(s)
		if err != nil {
			return nil, err
		}
		dir := path.Dir(s.rel)
		var keys []string
		if dir != "." {
			keys = strings.Split(dir, "/")
		}
		if _, ok := v.(map[string]any); len(keys) == 0 && !ok {
			return nil, fmt.Errorf("%w: data file %s: holds %s; a data file at the top of the policy directory must hold an object (its keys go to the root of data)", ErrCompile, s.name, jsonKind(v))
		}
		for i := len(keys) - 1; i >= 0; i-- {
			v = map[string]any{keys[i]: v}
		}
		doc := v.(map[string]any)
		if at, ok := conflict(pd.doc, doc, nil); ok {
			other := "another data file"
			for _, p := range pd.placed {
				if has(p.doc, at) {
					other = p.name
					break
				}
			}
			return nil, fmt.Errorf("%w: data file %s sets %s, which %s sets too: data files must not overlap", ErrCompile, s.name, dataRef(at), other)
		}
		merge(pd.doc, doc)
		pd.placed = append(pd.placed, placedDoc{name: s.name, doc: doc})
		pd.files = append(pd.files, DataFile{File: s.rel, Path: dataRef(keys)})
	}
	// Denials come from rules, which strict mode and the tests check; a
	// set of messages in data would look like one and never be read.
	if promo, ok := lookup(pd.doc, promotionPath); ok {
		if obj, ok := promo.(map[string]any); ok {
			for _, k := range sortedKeys(obj) {
				if kindOf(k) != helperRule {
					at := append(slices.Clone(promotionPath), k)
					return nil, fmt.Errorf("%w: data file %s sets %s, a decision rule's name: write denials and warnings as rules", ErrCompile, pd.setBy(at), dataRef(at))
				}
			}
		}
	}
	return pd, nil
}

var promotionPath = []string{"ferry", "promotion"}

// setBy names the first data file that has a value at path or above it.
func (pd *policyData) setBy(at []string) string {
	for i := len(at); i > 0; i-- {
		for _, p := range pd.placed {
			if has(p.doc, at[:i]) {
				return p.name
			}
		}
	}
	return "a data file"
}

// nonEmpty is storage.NonEmpty over the merged document, for the
// compiler's check that no rule is defined where data already is: the
// path holds a value, or a prefix of it holds something other than an
// object.
func (pd *policyData) nonEmpty(at []string) bool {
	if has(pd.doc, at) {
		return true
	}
	for i := len(at) - 1; i > 0; i-- {
		if v, ok := lookup(pd.doc, at[:i]); ok {
			_, obj := v.(map[string]any)
			return !obj
		}
	}
	return false
}

// explain rewrites the compiler's "conflicting rule for data path a/b
// found" to name the rule's path as Rego does and the data file that is in
// its way.
func (pd *policyData) explain(errs ast.Errors) ast.Errors {
	const prefix, suffix = "conflicting rule for data path ", " found"
	for _, e := range errs {
		p, ok := strings.CutPrefix(e.Message, prefix)
		if !ok || !strings.HasSuffix(p, suffix) {
			continue
		}
		at := strings.Split(strings.TrimSuffix(p, suffix), "/")
		e.Message = fmt.Sprintf("rule %s conflicts with data from %s: a path is either data or a rule; rename one", dataRef(at), pd.setBy(at))
	}
	return errs
}

// parseData decodes one JSON or YAML data file; errors give the file, line
// and reason.
func parseData(s source) (any, error) {
	data := s.data
	if ext := path.Ext(s.rel); ext == ".yaml" || ext == ".yml" {
		// sigs.k8s.io/yaml is what opa converts YAML data with, so booleans,
		// numbers and keys come out as opa would read them.
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, fmt.Errorf("%w: data file %s: %s", ErrCompile, s.name, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
		}
		data = j
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: data file %s: %s", ErrCompile, s.name, jsonProblem(data, err))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// Point at where the extra data starts, not past its first token.
		rest := data[end:]
		end += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n")))
		return nil, fmt.Errorf("%w: data file %s: %s: more data after the JSON value", ErrCompile, s.name, position(data, end))
	}
	return v, nil
}

// conflict returns the first path (in key order) where b would overwrite a
// value of a: both hold the key and not both hold objects there.
func conflict(a, b map[string]any, at []string) ([]string, bool) {
	for _, k := range sortedKeys(b) {
		av, ok := a[k]
		if !ok {
			continue
		}
		am, aObj := av.(map[string]any)
		bm, bObj := b[k].(map[string]any)
		here := append(slices.Clone(at), k)
		if !aObj || !bObj {
			return here, true
		}
		if p, ok := conflict(am, bm, here); ok {
			return p, true
		}
	}
	return nil, false
}

// merge adds b into a (conflict(a, b) must be false). Objects from b are
// copied so later merges never write into a file's own document.
func merge(a, b map[string]any) {
	for k, bv := range b {
		bm, bObj := bv.(map[string]any)
		if am, ok := a[k].(map[string]any); ok && bObj {
			merge(am, bm)
			continue
		}
		if bObj {
			cp := map[string]any{}
			merge(cp, bm)
			bv = cp
		}
		a[k] = bv
	}
}

func lookup(doc map[string]any, at []string) (any, bool) {
	var v any = doc
	for _, k := range at {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func has(doc map[string]any, at []string) bool {
	_, ok := lookup(doc, at)
	return ok
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// dataRef writes a path under data as Rego would: data.teams,
// data["my-team"].
func dataRef(at []string) string {
	ref := ast.Ref{ast.DefaultRootDocument}
	for _, k := range at {
		ref = append(ref, ast.StringTerm(k))
	}
	return ref.String()
}
