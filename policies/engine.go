package policies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Decision is the policy result for one (app, candidate, environment).
// Deny and Warn are sorted, deduplicated and never nil.
type Decision struct {
	Allow bool
	Deny  []string
	Warn  []string
}

// DefaultDecisionTimeout bounds each decision unless WithDecisionTimeout
// sets another limit. The default policies decide in well under a
// millisecond; 2s only stops a rule that would otherwise run for minutes
// while the agent waits on it.
const DefaultDecisionTimeout = 2 * time.Second

// ErrDecisionTimeout marks a decision stopped because it ran longer than the
// engine's decision timeout. Callers treat it as a denial (fail closed).
var ErrDecisionTimeout = errors.New("policy decision timeout")

// LoadOption changes how Load builds an Engine.
type LoadOption func(*loadConfig)

type loadConfig struct {
	timeout time.Duration
}

// WithDecisionTimeout bounds each decision of the Engine to d. A d of zero or
// less keeps DefaultDecisionTimeout: a decision is never unbounded.
func WithDecisionTimeout(d time.Duration) LoadOption {
	return func(c *loadConfig) {
		if d > 0 {
			c.timeout = d
		}
	}
}

func newLoadConfig(opts []LoadOption) loadConfig {
	c := loadConfig{timeout: DefaultDecisionTimeout}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Engine holds compiled policies, their data and one prepared query; it is
// safe for concurrent use.
type Engine struct {
	hash    string
	files   []string
	data    []DataFile
	timeout time.Duration
	query   *rego.PreparedEvalQuery // nil when the directory holds no policies
	binds   []binding               // the query's variables, one per decision rule
	reads   *reads                  // what of a map input the policies read
}

// binding is one variable of the prepared query and the rule it reads.
type binding struct {
	name string // query variable
	rule string // data.ferry.promotion.NAME
	deny bool
}

var noMetrics = metrics.NoOp()

// Load reads and compiles the policies under dir in fsys (typically a Git
// commit's tree): every *.rego file except *_test.rego, against dir's
// input.schema.json when present, with the JSON and YAML files under dir as
// data. Errors name file:line:col and wrap ErrCompile when the policies or
// their data do not parse or compile.
func Load(ctx context.Context, fsys fs.FS, dir string, opts ...LoadOption) (*Engine, error) {
	pd, err := readDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	e, _, err := build(ctx, pd, newLoadConfig(opts))
	return e, err
}

// build compiles what readDir found; RunTests shares it so `ferry policy
// test` refuses exactly what the agent refuses.
func build(ctx context.Context, pd *policyDir, cfg loadConfig) (*Engine, *policyData, error) {
	e := &Engine{hash: hashFiles(pd), timeout: cfg.timeout}
	for _, group := range [][]source{pd.rego, pd.data} {
		for _, s := range group {
			e.files = append(e.files, s.rel)
		}
	}
	if pd.schema != nil {
		e.files = append(e.files, pd.schema.rel)
	}
	slices.Sort(e.files)
	fail := func(err error) (*Engine, *policyData, error) {
		return nil, nil, fmt.Errorf("load policies from %s: %w", pd.dir, err)
	}
	data, err := loadData(pd.data)
	if err != nil {
		return fail(err)
	}
	e.data = data.files
	if len(pd.rego) == 0 {
		// Git has no empty directories: a policies/ holding only data,
		// tests or notes is a policy that was meant and lost (a bad copy,
		// a rename). No gates is said by having no policies/ at all.
		return fail(fmt.Errorf("%w: %s holds no policy (no *.rego file other than *_test.rego): without one every promotion would be allowed; "+
			"remove the directory to run without gates", ErrCompile, pd.dir))
	}
	mods, err := parse(pd.rego)
	if err != nil {
		return fail(err)
	}
	e.reads = inputReads(mods) // before the compiler rewrites them
	schema := pd.schema
	if schema == nil {
		// ferry builds the input, so ferry's own schema types it: without
		// it a typo (input.evidence.trivvy) is undefined, and undefined
		// is a silent allow.
		schema = &source{name: "input.schema.json (ferry's built-in)", data: defaultSchema}
	}
	ss, err := schemaSet(schema)
	if err != nil {
		return fail(err)
	}
	c := newCompiler(ss)
	if len(data.doc) > 0 {
		c = c.WithPathConflictsCheck(func(p []string) (bool, error) { return data.nonEmpty(p), nil })
	}
	if c.Compile(mods); c.Failed() {
		return fail(compileError(data.explain(c.Errors)))
	}
	failures, warnings, err := decisionRules(c)
	if err != nil {
		return fail(err)
	}
	// One query over every decision rule: prepared once, each decision
	// evaluates them together.
	var q []string
	for i, n := range failures {
		b := binding{name: "f" + strconv.Itoa(i), rule: ruleRef(n).String(), deny: true}
		e.binds = append(e.binds, b)
		q = append(q, b.name+" := "+b.rule)
	}
	for i, n := range warnings {
		b := binding{name: "w" + strconv.Itoa(i), rule: ruleRef(n).String()}
		e.binds = append(e.binds, b)
		q = append(q, b.name+" := "+b.rule)
	}
	args := []func(*rego.Rego){
		rego.Compiler(c),
		rego.Query(strings.Join(q, "; ")),
		rego.StrictBuiltinErrors(true),
	}
	if len(data.doc) > 0 {
		// AST values on read: a rule reading data does not convert it from
		// Go values at every decision.
		args = append(args, rego.Store(inmem.NewFromObjectWithOpts(data.doc, inmem.OptReturnASTValuesOnRead(true))))
	}
	pq, err := rego.New(args...).PrepareForEval(ctx)
	if err != nil {
		return fail(fmt.Errorf("prepare query: %w", err))
	}
	e.query = &pq
	return e, data, nil
}

// Hash identifies the loaded policy files (policies, data files and the
// schema): "sha256:" and the hex SHA-256 over each file's path relative to
// the policy directory and content, in path order, each as path NUL length NUL content. It goes into the Ferry-Policy
// commit trailer.
func (e *Engine) Hash() string { return e.hash }

// Files lists the loaded files (policies, data, schema), relative to the
// policy directory, sorted.
func (e *Engine) Files() []string { return slices.Clone(e.files) }

// Data lists the data files loaded and where each sits under data.
func (e *Engine) Data() []DataFile { return slices.Clone(e.data) }

// DecisionTimeout is the limit each decision runs under.
func (e *Engine) DecisionTimeout() time.Duration { return e.timeout }

func hashFiles(pd *policyDir) string {
	all := append(slices.Clone(pd.rego), pd.data...)
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

// Decide evaluates the policies for one input: a map[string]any (of it,
// only what the policies read is converted), a struct (converted as its
// JSON encoding reads), JSON bytes, or an ast.Value converted beforehand.
// Any failure is an error, never an allow. A decision stops when ctx is
// done or when it has run for the engine's decision timeout; the latter
// error wraps ErrDecisionTimeout.
func (e *Engine) Decide(ctx context.Context, input any) (Decision, error) {
	if e.query == nil {
		return Decision{Allow: true, Deny: []string{}, Warn: []string{}}, nil
	}
	v, err := toValue(input, e.reads)
	if err != nil {
		return Decision{}, err
	}
	// OPA only notices a cancellation in long evaluations; never decide on a
	// request already abandoned.
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("evaluate policies: %w", err)
	}
	// Cancel through the context and the timer without the goroutine OPA
	// would otherwise start per evaluation, and skip per-evaluation metrics
	// nobody reads. topdown checks the cancel before every expression and
	// inside its looping built-ins (numbers.range, ...).
	cancel := topdown.NewCancel()
	fire := cancel.Cancel
	stop := context.AfterFunc(ctx, fire)
	defer stop()
	timer := time.AfterFunc(e.timeout, fire)
	defer timer.Stop()
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(v), rego.EvalExternalCancel(cancel), rego.EvalMetrics(noMetrics))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr // OPA's own cancel error does not say why
		} else if topdown.IsCancel(err) {
			// Cancelled while ctx is live: only the timer does that.
			return Decision{}, e.timeoutError(v)
		}
		return Decision{}, fmt.Errorf("evaluate policies: %w", err)
	}
	if len(rs) != 1 {
		return Decision{}, fmt.Errorf("evaluate policies: the decision rules are undefined (%d results)", len(rs))
	}
	d := Decision{Deny: []string{}, Warn: []string{}}
	for _, b := range e.binds {
		msgs, err := messages(rs[0].Bindings, b)
		if err != nil {
			return Decision{}, err
		}
		if b.deny {
			d.Deny = append(d.Deny, msgs...)
		} else {
			d.Warn = append(d.Warn, msgs...)
		}
	}
	slices.Sort(d.Deny)
	d.Deny = slices.Compact(d.Deny)
	slices.Sort(d.Warn)
	d.Warn = slices.Compact(d.Warn)
	d.Allow = len(d.Deny) == 0
	return d, nil
}

// timeoutError says which decision ran too long and what to do about it.
func (e *Engine) timeoutError(input ast.Value) error {
	return fmt.Errorf("policy decision for %s did not finish within %s; a policy rule is too slow: "+
		"look for iteration over large collections (nested `some ... in`, comprehensions over numbers.range) "+
		"or raise the limit (policyTimeout): %w", describeInput(input), e.timeout, ErrDecisionTimeout)
}

// describeInput names the app, candidate and environment of an input, as
// far as the input has them.
func describeInput(v ast.Value) string {
	str := func(path ...string) string {
		var cur ast.Value = v
		for _, k := range path {
			obj, ok := cur.(ast.Object)
			if !ok {
				return ""
			}
			t := obj.Get(ast.StringTerm(k))
			if t == nil {
				return ""
			}
			cur = t.Value
		}
		s, _ := cur.(ast.String)
		return string(s)
	}
	out := "this input"
	if app := str("app", "name"); app != "" {
		out = app
		if c := str("candidate", "version"); c != "" {
			out += " " + c
		}
	}
	if env := str("environment", "name"); env != "" {
		out += " in " + env
	}
	return out
}

// messages reads one decision rule's set from the query's bindings: each
// item a string, or, as conftest reads violation rules, an object whose
// "msg" is a string. Anything else is an error: a denial is never dropped.
func messages(b rego.Vars, bd binding) ([]string, error) {
	raw, ok := b[bd.name]
	if !ok {
		return nil, fmt.Errorf("evaluate policies: %s is undefined", bd.rule)
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("evaluate policies: %s is a %T, want a set of strings", bd.rule, raw)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var msg string
		switch x := it.(type) {
		case string:
			msg = x
		case map[string]any:
			s, ok := x["msg"].(string)
			if !ok {
				return nil, fmt.Errorf("evaluate policies: %s holds %s, an object without a string \"msg\": want strings or {\"msg\": \"...\"} objects", bd.rule, short(it))
			}
			msg = s
		default:
			return nil, fmt.Errorf("evaluate policies: %s holds %s (a %T), want only strings or {\"msg\": \"...\"} objects", bd.rule, short(it), it)
		}
		if msg == "" {
			// conftest counts an empty message as a pass; here it stays a
			// denial, with words to find it by.
			msg = "(empty message from " + bd.rule + ")"
		}
		out = append(out, msg)
	}
	return out, nil
}

// short renders a policy value for an error, cut to a readable length.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const max = 200
	if len(b) > max {
		// Cut on a rune boundary.
		cut := max
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + "..."
	}
	return string(b)
}
