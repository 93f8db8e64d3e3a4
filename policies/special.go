package policies

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// A decision's input.environment is the same for every decision about
// that environment: the decision query is specialised for it once, by
// OPA's partial evaluation with the rest of the input unknown, so rules
// gated to other environments (input.environment.tier == "staging") and
// values computed from the environment alone (object.get(input.environment,
// "soak_seconds", 3600)) cost nothing at decision time. Answers never
// change: an environment whose specialisation could differ from the
// generic query in any way is decided by the generic query.

// maxSpecials bounds the specialised queries an engine keeps (one per
// environment, and per set of top-level input keys); a full cache is
// cleared, as gate's engine cache is.
const maxSpecials = 256

// specialNamespace holds the specialised query's support rules, away from
// any package a policy could name.
const specialNamespace = "ferry_specialised__"

type specials struct {
	mu sync.Mutex
	m  map[int][]*special // by the environment's hash
	n  int
}

// special is the query specialised for one environment and set of
// top-level input keys; once done, a nil query means the generic query
// decides them (why says why).
type special struct {
	env    ast.Value
	others []string

	mu    sync.Mutex
	done  bool
	query *rego.PreparedEvalQuery
	why   error
}

// lookup finds or adds the entry for env and others.
func (ss *specials) lookup(env ast.Value, others []string) *special {
	h := env.Hash()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for _, s := range ss.m[h] {
		if slices.Equal(s.others, others) && ast.Compare(s.env, env) == 0 {
			return s
		}
	}
	if ss.m == nil || ss.n >= maxSpecials {
		ss.m, ss.n = map[int][]*special{}, 0
	}
	s := &special{env: env, others: others}
	ss.m[h] = append(ss.m[h], s)
	ss.n++
	return s
}

// all lists the entries (tests).
func (ss *specials) all() []*special {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []*special
	for _, l := range ss.m {
		out = append(out, l...)
	}
	return out
}

// specialised returns the query specialised for v's environment, or nil
// when the generic query decides v. Specialising runs under the decision's
// context and the engine's decision timeout, as the decision itself does;
// its errors are those.
func (e *Engine) specialised(ctx context.Context, v ast.Value) (*rego.PreparedEvalQuery, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, nil
	}
	env := obj.Get(ast.InternedTerm("environment"))
	if env == nil {
		return nil, nil
	}
	// The other top-level keys are the unknowns: a rule that lists
	// input's keys sees them all, and only them. (Keys come sorted.)
	others := make([]string, 0, obj.Len())
	for _, k := range obj.Keys() {
		s, ok := k.Value.(ast.String)
		if !ok {
			return nil, nil
		}
		if s != "environment" {
			others = append(others, string(s))
		}
	}
	s := e.special.lookup(env.Value, others)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return s.query, nil
	}
	pctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	q, err := e.specialise(pctx, env.Value, others)
	switch {
	case ctx.Err() != nil:
		// The caller's, not this environment's: the next decision tries again.
		return nil, fmt.Errorf("evaluate policies: %w", ctx.Err())
	case pctx.Err() != nil:
		// What can be evaluated without the input already takes longer than
		// a decision may: so would every decision here.
		s.done, s.why = true, err
		return nil, e.timeoutError(v)
	}
	s.done, s.query, s.why = true, q, err
	return q, nil
}

// errNotSpecialised marks an environment the generic query decides.
var errNotSpecialised = errors.New("not specialised")

// specialise partially evaluates the decision query with input.environment
// known as env and input.K unknown for each K of others, and prepares the
// residual query.
func (e *Engine) specialise(ctx context.Context, env ast.Value, others []string) (*rego.PreparedEvalQuery, error) {
	unknowns := make([]*ast.Term, len(others))
	for i, k := range others {
		unknowns[i] = ast.NewTerm(ast.InputRootRef.Append(ast.StringTerm(k)))
	}
	known := ast.NewObject(ast.Item(ast.InternedTerm("environment"), ast.NewTerm(env)))
	guard := &pruneGuard{risky: map[uint64]bool{}, last: map[uint64]ast.Node{}}
	args := []func(*rego.Rego){
		rego.Compiler(e.compiler),
		rego.Query(e.unify),
		rego.ParsedInput(known),
		rego.ParsedUnknowns(unknowns),
		// Complete rules stay rules rather than being inlined into their
		// callers, so two of their definitions that disagree are still
		// the conflict error they are in the generic query.
		rego.ShallowInlining(true),
		rego.PartialNamespace(specialNamespace),
		rego.StrictBuiltinErrors(true),
		rego.QueryTracer(guard),
	}
	if e.store != nil {
		args = append(args, rego.Store(e.store))
	}
	pq, err := rego.New(args...).Partial(ctx)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %v", errNotSpecialised, err)
	case guard.pruned != nil:
		return nil, fmt.Errorf("%w: a rule body is dropped for this environment after %s, which the generic query would evaluate (and which may fail)", errNotSpecialised, guard.pruned)
	case len(pq.Queries) != 1:
		return nil, fmt.Errorf("%w: %d residual queries", errNotSpecialised, len(pq.Queries))
	}
	// The policies again (support rules call their functions), and the
	// support rules.
	mods := make(map[string]*ast.Module, len(e.compiler.Modules)+len(pq.Support))
	for name, m := range e.compiler.Modules {
		mods[name] = m // Compile copies them
	}
	for i, m := range pq.Support {
		mods[fmt.Sprintf("%s%d", specialNamespace, i)] = m
	}
	c := ast.NewCompiler().WithCapabilities(capabilities()).WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("%w: compile: %v", errNotSpecialised, c.Errors)
	}
	args = []func(*rego.Rego){
		rego.Compiler(c),
		rego.ParsedQuery(pq.Queries[0]),
		rego.StrictBuiltinErrors(true),
	}
	if e.store != nil {
		args = append(args, rego.Store(e.store))
	}
	q, err := rego.New(args...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: prepare: %v", errNotSpecialised, err)
	}
	return &q, nil
}

// pruneGuard watches partial evaluation for the one way its answer could
// differ from the generic query's: a body dropped because an expression
// on the environment fails after an expression on the unknown input was
// set aside that calls a built-in, a function or a rule. The generic query
// evaluates that expression first, and with strict built-in errors an
// error there is a failed decision (fail closed), not a dropped body.
type pruneGuard struct {
	risky  map[uint64]bool     // query ids with such an expression set aside
	last   map[uint64]ast.Node // each query's expression evaluated last
	pruned ast.Node
}

func (*pruneGuard) Enabled() bool { return true }

func (*pruneGuard) Config() topdown.TraceConfig { return topdown.TraceConfig{} }

func (g *pruneGuard) TraceEvent(ev topdown.Event) {
	switch ev.Op {
	case topdown.EnterOp:
		// A query starts (partial evaluation reuses ids across its runs).
		delete(g.risky, ev.QueryID)
		delete(g.last, ev.QueryID)
	case topdown.EvalOp:
		g.last[ev.QueryID] = ev.Node
	case topdown.SaveOp:
		if mayFail(ev.Node) {
			g.risky[ev.QueryID] = true
		}
		// The expression evaluated last was set aside, not failed.
		delete(g.last, ev.QueryID)
	case topdown.FailOp:
		// The expression just evaluated has failed, known: the body is
		// dropped here. (A saved expression's Fail, when evaluation
		// backtracks past it, drops nothing.)
		if g.risky[ev.QueryID] && ev.Node == g.last[ev.QueryID] && g.pruned == nil {
			g.pruned = ev.Node
		}
	}
}

// mayFail says whether evaluating n could be an error: it calls anything
// but a comparison or membership test, or reads a rule.
func mayFail(n ast.Node) bool {
	fail := false
	ast.WalkTerms(n, func(t *ast.Term) bool {
		switch x := t.Value.(type) {
		case ast.Call:
			if op, ok := x[0].Value.(ast.Ref); !ok || !safeCall(op) {
				fail = true
			}
		case ast.Ref:
			if x.HasPrefix(ast.DefaultRootRef) {
				fail = true
			}
		}
		return fail
	})
	if expr, ok := n.(*ast.Expr); ok && expr.IsCall() && !safeCall(expr.Operator()) {
		fail = true
	}
	return fail
}

// safeCall: operators that never fail, whatever their operands.
func safeCall(op ast.Ref) bool {
	switch op.String() {
	case "eq", "equal", "neq", "lt", "gt", "lte", "gte", "internal.member_2", "internal.member_3", "assign":
		return true
	}
	return false
}
