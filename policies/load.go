package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// SchemaFile is the input schema's name inside a policy directory.
const SchemaFile = "input.schema.json"

// ErrCompile marks a policy directory that does not parse or compile.
var ErrCompile = errors.New("policies do not compile")

// source is one file read from a policy directory.
type source struct {
	rel  string // path relative to the policy directory; what Hash covers
	name string // path as given (dir/rel); what errors name
	data []byte
}

// policyDir holds what readDir found in a policy directory.
type policyDir struct {
	dir    string
	rego   []source // sorted by rel
	tests  []source // *_test.rego, sorted by rel
	data   []source // JSON and YAML data files, sorted by rel
	schema *source
}

// cleanDir turns "policies/", "./policies" or "" into an fs.FS path.
func cleanDir(dir string) (string, error) {
	d := path.Clean(strings.TrimSpace(dir))
	if d == "" {
		d = "."
	}
	if !fs.ValidPath(d) {
		return "", fmt.Errorf("policy directory %q: not a relative slash-separated path", dir)
	}
	return d, nil
}

// readDir reads every *.rego file and every data file (*.json, *.yaml,
// *.yml) under dir, skipping testdata and hidden directories as Go tooling
// does, and dir's input.schema.json. A missing dir is an error wrapping
// fs.ErrNotExist: callers decide what no policies mean.
func readDir(fsys fs.FS, dir string) (*policyDir, error) {
	d, err := cleanDir(dir)
	if err != nil {
		return nil, err
	}
	pd := &policyDir{dir: d}
	st, err := fs.Stat(fsys, d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("policy directory %s does not exist: %w", d, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("read policy directory %s: %w", d, err)
	case !st.IsDir():
		return nil, fmt.Errorf("policy directory %s is a file, not a directory", d)
	}
	err = fs.WalkDir(fsys, d, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.IsDir() {
			if p != d && (de.Name() == "testdata" || strings.HasPrefix(de.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		isSchema := path.Dir(p) == d && de.Name() == SchemaFile
		isData := !isSchema && isDataName(de.Name())
		if !isSchema && !isData && !strings.HasSuffix(p, ".rego") {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, d+"/")
		if d == "." {
			rel = p
		}
		src := source{rel: rel, name: p, data: data}
		switch {
		case isSchema:
			pd.schema = &src
		case isData:
			pd.data = append(pd.data, src)
		case strings.HasSuffix(p, "_test.rego"):
			pd.tests = append(pd.tests, src)
		default:
			pd.rego = append(pd.rego, src)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy directory %s: %w", d, err)
	}
	// WalkDir visits in lexical order already; sort anyway since Hash relies on it.
	for _, s := range [][]source{pd.rego, pd.tests, pd.data} {
		sort.Slice(s, func(i, j int) bool { return s[i].rel < s[j].rel })
	}
	return pd, nil
}

// parse parses Rego v1 sources into modules keyed by their name.
func parse(srcs []source) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(srcs))
	var errs ast.Errors
	for _, s := range srcs {
		m, err := ast.ParseModuleWithOpts(s.name, string(s.data), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			var pe ast.Errors
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("parse %s: %w", s.name, err)
			}
			errs = append(errs, pe...)
			continue
		}
		mods[s.name] = m
	}
	if len(errs) > 0 {
		return nil, compileError(errs)
	}
	return mods, nil
}

// schemaSet reads the input schema, when there is one.
func schemaSet(s *source) (*ast.SchemaSet, error) {
	if s == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(s.data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrCompile, s.name, jsonProblem(s.data, err))
	}
	ss := ast.NewSchemaSet()
	ss.Put(ast.SchemaRootRef, raw) // the root schema types input
	// Compile the schema on its own first, so its errors name its file
	// rather than coming out of the policies' type check unattributed.
	probe := map[string]*ast.Module{s.name: ast.MustParseModule("package ferry.schemaprobe")}
	c := newCompiler(ss)
	if c.Compile(probe); c.Failed() {
		msgs := make([]string, 0, len(c.Errors))
		for _, e := range c.Errors {
			msgs = append(msgs, e.Message)
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrCompile, s.name, strings.Join(msgs, "; "))
	}
	return ss, nil
}

// disabled reports whether a built-in reaches outside ferry's process.
func disabled(name string) bool {
	return name == "http.send" || name == "opa.runtime" || strings.HasPrefix(name, "net.")
}

// capabilities is OPA's default set minus the disabled built-ins, with no
// network access for schema references either.
func capabilities() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	keep := make([]*ast.Builtin, 0, len(caps.Builtins))
	for _, b := range caps.Builtins {
		if !disabled(b.Name) {
			keep = append(keep, b)
		}
	}
	caps.Builtins = keep
	caps.AllowNet = []string{}
	return caps
}

func newCompiler(ss *ast.SchemaSet) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(capabilities()).
		WithSchemas(ss).
		WithStrict(true).
		WithUseTypeCheckAnnotations(true).
		WithDefaultRegoVersion(ast.RegoV1)
}

// compileError lists each problem as file:line:col: code: message.
func compileError(errs ast.Errors) error {
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, "  "+describe(e))
	}
	return fmt.Errorf("%w:\n%s", ErrCompile, strings.Join(lines, "\n"))
}

func describe(e *ast.Error) string {
	msg := e.Message
	if name, ok := strings.CutPrefix(msg, "undefined function "); ok && disabled(name) {
		msg = name + " is disabled: ferry policies may not reach the network or the runtime; decide on the evidence in input"
	}
	// Details (e.g. the two types that did not match) follow, indented.
	if e.Details != nil {
		for _, l := range e.Details.Lines() {
			msg += "\n      " + l
		}
	}
	if e.Location == nil {
		return e.Code + ": " + msg
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.Location.File, e.Location.Row, e.Location.Col, e.Code, msg)
}
