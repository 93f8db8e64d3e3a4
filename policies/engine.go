package policies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Decision is the policy result for one (app, candidate, environment).
// Deny and Warn are sorted, deduplicated and never nil.
type Decision struct {
	Allow bool
	Deny  []string
	Warn  []string
}

// Engine holds compiled policies and one prepared query; it is safe for
// concurrent use.
type Engine struct {
	hash  string
	files []string
	query *rego.PreparedEvalQuery // nil when the directory holds no policies
}

var (
	noMetrics = metrics.NoOp()
	denyRef   = ast.MustParseRef("data.ferry.promotion.deny")
	warnRef   = ast.MustParseRef("data.ferry.promotion.warn")
)

// Load reads and compiles the policies under dir in fsys (typically a Git
// commit's tree): every *.rego file except *_test.rego, against dir's
// input.schema.json when present. Errors name file:line:col and wrap
// ErrCompile when the policies do not compile.
func Load(ctx context.Context, fsys fs.FS, dir string) (*Engine, error) {
	pd, err := readDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{hash: hashFiles(pd)}
	for _, s := range pd.rego {
		e.files = append(e.files, s.rel)
	}
	if pd.schema != nil {
		e.files = append(e.files, pd.schema.rel)
	}
	if len(pd.rego) == 0 {
		return e, nil
	}
	mods, err := parse(pd.rego)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", pd.dir, err)
	}
	ss, err := schemaSet(pd.schema)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", pd.dir, err)
	}
	c := newCompiler(ss)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("load policies from %s: %w", pd.dir, compileError(c.Errors))
	}
	hasWarn, err := checkRules(c)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: %w", pd.dir, err)
	}
	q := "deny := data.ferry.promotion.deny"
	if hasWarn {
		q += "; warn := data.ferry.promotion.warn"
	}
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Query(q),
		rego.StrictBuiltinErrors(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("load policies from %s: prepare query: %w", pd.dir, err)
	}
	e.query = &pq
	return e, nil
}

// checkRules makes sure deny exists and that deny and warn are sets of
// messages: a complete rule (deny := [...]) or an object rule (deny[x] := y)
// would not be read the way its author meant.
func checkRules(c *ast.Compiler) (hasWarn bool, err error) {
	var errs ast.Errors
	for _, ref := range []ast.Ref{denyRef, warnRef} {
		for _, r := range c.GetRulesWithPrefix(ref) {
			if r.Head.RuleKind() != ast.MultiValue || len(r.Head.Ref()) != 1 {
				errs = append(errs, ast.NewError(ast.CompileErr, r.Location,
					"%s must be a set of messages: write `%s contains msg if { ... }`", r.Head.Name, r.Head.Name))
			}
		}
	}
	if len(errs) > 0 {
		return false, compileError(errs)
	}
	if len(c.GetRulesExact(denyRef)) == 0 {
		return false, fmt.Errorf("%w: no `deny contains msg` rule in package ferry.promotion: without one every promotion would be allowed", ErrCompile)
	}
	return len(c.GetRulesExact(warnRef)) > 0, nil
}

// Hash identifies the loaded policy files: "sha256:" and the hex SHA-256 over
// each file's path relative to the policy directory and content, in path
// order, each as path NUL length NUL content. It goes into the Ferry-Policy
// commit trailer.
func (e *Engine) Hash() string { return e.hash }

// Files lists the loaded files, relative to the policy directory.
func (e *Engine) Files() []string { return slices.Clone(e.files) }

func hashFiles(pd *policyDir) string {
	all := slices.Clone(pd.rego)
	if pd.schema != nil {
		all = append(all, *pd.schema)
	}
	slices.SortFunc(all, func(a, b source) int {
		switch {
		case a.rel < b.rel:
			return -1
		case a.rel > b.rel:
			return 1
		}
		return 0
	})
	h := sha256.New()
	for _, s := range all {
		h.Write([]byte(s.rel))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(len(s.data))))
		h.Write([]byte{0})
		h.Write(s.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Decide evaluates the policies for one input: a map[string]any, a struct
// (converted through its JSON encoding), JSON bytes, or an ast.Value
// converted beforehand. Any failure is an error, never an allow.
func (e *Engine) Decide(ctx context.Context, input any) (Decision, error) {
	if e.query == nil {
		return Decision{Allow: true, Deny: []string{}, Warn: []string{}}, nil
	}
	v, err := toValue(input)
	if err != nil {
		return Decision{}, err
	}
	// OPA only notices a cancellation in long evaluations; never decide on a
	// request already abandoned.
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("evaluate policies: %w", err)
	}
	// Cancel through the context without the goroutine OPA would otherwise
	// start per evaluation, and skip per-evaluation metrics nobody reads.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v), rego.EvalExternalCancel(cancel), rego.EvalMetrics(noMetrics))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr // OPA's own cancel error does not say why
		}
		return Decision{}, fmt.Errorf("evaluate policies: %w", err)
	}
	if len(rs) != 1 {
		return Decision{}, fmt.Errorf("evaluate policies: data.ferry.promotion.deny is undefined (%d results)", len(rs))
	}
	deny, err := messages(rs[0].Bindings, "deny")
	if err != nil {
		return Decision{}, err
	}
	warn, err := messages(rs[0].Bindings, "warn")
	if err != nil {
		return Decision{}, err
	}
	return Decision{Allow: len(deny) == 0, Deny: deny, Warn: warn}, nil
}

// messages reads a set of strings from the query's bindings.
func messages(b rego.Vars, name string) ([]string, error) {
	raw, ok := b[name]
	if !ok {
		if name == "deny" {
			return nil, errors.New("evaluate policies: data.ferry.promotion.deny is undefined")
		}
		return []string{}, nil
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("evaluate policies: data.ferry.promotion.%s is a %T, want a set of strings", name, raw)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("evaluate policies: data.ferry.promotion.%s holds %v (a %T), want only strings", name, it, it)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
