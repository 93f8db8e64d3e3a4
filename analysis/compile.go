package analysis

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/prometheus/prometheus/promql/parser"
)

// maxPoints is Prometheus's limit of points per series of a range query.
const maxPoints = 11000

// sampleVars render queries at compile time, to check they parse.
var sampleVars = Vars{App: "app", Env: "env", Version: "1.0.1", Stable: "1.0.0", Canary: "1.0.1"}

// exprEnv is what a condition sees.
type exprEnv struct {
	Result float64 `expr:"result"`
}

// Compiled is a checked template, ready to run. It is safe for concurrent
// use.
type Compiled struct {
	t       Template
	metrics []*CompiledMetric
}

// CompiledMetric is one checked metric: its parsed query template and its
// compiled conditions.
type CompiledMetric struct {
	m       Metric
	query   *template.Template
	success *vm.Program
	failure *vm.Program
}

// Template is the template with every default applied.
func (c *Compiled) Template() Template { return c.t }

// Metric is the i-th compiled metric, in template order.
func (c *Compiled) Metric(i int) *CompiledMetric { return c.metrics[i] }

// Metric is the metric with defaults applied (provider, direction, weight).
func (m *CompiledMetric) Metric() Metric { return m.m }

// Query renders the metric's query with vars.
func (m *CompiledMetric) Query(vars Vars) (string, error) {
	var b strings.Builder
	if err := m.query.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("render query of %s: %w", m.m.Name, err)
	}
	return b.String(), nil
}

// Compile checks t and prepares it. providers are the configured provider
// names. Every problem is returned, each a *FieldError, in field order,
// joined with errors.Join (nothing else wraps them: the caller prefixes the
// template's place).
func Compile(t Template, providers []string) (*Compiled, error) {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Err: fmt.Errorf(format, args...)})
	}
	known := func(name string) bool {
		for _, p := range providers {
			if p == name {
				return true
			}
		}
		return false
	}
	if t.Provider == "" {
		t.Provider = DefaultProvider
	}
	if !known(t.Provider) {
		bad("provider", "%w %q (known: %s)", ErrUnknownProvider, t.Provider, knownList(providers))
	}
	nonNegative := func(path string, v int64, show string) {
		if v < 0 {
			bad(path, "%s is negative", show)
		}
	}
	nonNegative("interval", int64(t.Interval), t.Interval.String())
	nonNegative("count", int64(t.Count), fmt.Sprint(t.Count))
	nonNegative("initialDelay", int64(t.InitialDelay), t.InitialDelay.String())
	nonNegative("failureLimit", int64(t.FailureLimit), fmt.Sprint(t.FailureLimit))
	nonNegative("inconclusiveLimit", int64(t.InconclusiveLimit), fmt.Sprint(t.InconclusiveLimit))
	if t.Interval == 0 {
		t.Interval = DefaultInterval
	}
	if t.Count == 0 {
		t.Count = DefaultCount
	}
	limit := DefaultConsecutiveErrorLimit
	if t.ConsecutiveErrorLimit != nil {
		limit = *t.ConsecutiveErrorLimit
		nonNegative("consecutiveErrorLimit", int64(limit), fmt.Sprint(limit))
	}
	t.ConsecutiveErrorLimit = &limit
	if t.Judge != nil {
		j := *t.Judge
		errs = append(errs, checkJudge(&j)...)
		t.Judge = &j
	}

	c := &Compiled{}
	if len(t.Metrics) == 0 {
		bad("metrics", "at least one metric is needed")
	}
	metrics := make([]Metric, len(t.Metrics))
	seen := map[string]int{}
	for i, m := range t.Metrics {
		at := fmt.Sprintf("metrics[%d]", i)
		switch first, dup := seen[m.Name]; {
		case m.Name == "":
			bad(at+".name", "is empty")
		case dup:
			bad(at+".name", "%q is also the name of metrics[%d]", m.Name, first)
		default:
			seen[m.Name] = i
		}
		if m.Provider == "" {
			m.Provider = t.Provider
		} else if !known(m.Provider) {
			bad(at+".provider", "%w %q (known: %s)", ErrUnknownProvider, m.Provider, knownList(providers))
		}
		cm := &CompiledMetric{}
		var err error
		if cm.query, err = checkQuery(m.Query); err != nil {
			bad(at+".query", "%w", err)
		}
		if cm.success, err = compileCondition(m.SuccessCondition); err != nil {
			bad(at+".successCondition", "%w", err)
		}
		if cm.failure, err = compileCondition(m.FailureCondition); err != nil {
			bad(at+".failureCondition", "%w", err)
		}
		if t.Judge != nil {
			errs = append(errs, checkJudgeMetric(at, &m)...)
		} else {
			errs = append(errs, checkConditionMetric(at, m)...)
		}
		cm.m = m
		metrics[i] = m
		c.metrics = append(c.metrics, cm)
	}
	t.Metrics = metrics
	c.t = t
	if len(errs) > 0 {
		return nil, errors.Join(errs...) // the loader adds where the template is
	}
	return c, nil
}

func knownList(providers []string) string {
	if len(providers) == 0 {
		return "none is configured"
	}
	return strings.Join(providers, ", ")
}

// checkQuery parses q as a text/template and checks that it renders with
// sample values to PromQL that parses.
func checkQuery(q string) (*template.Template, error) {
	if strings.TrimSpace(q) == "" {
		return nil, errors.New("is empty")
	}
	tmpl, err := template.New("query").Option("missingkey=error").Parse(q)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, sampleVars); err != nil {
		return nil, fmt.Errorf("template (variables are .App .Env .Version .Stable .Canary): %w", err)
	}
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(b.String()); err != nil {
		return nil, fmt.Errorf("PromQL %q: %w", b.String(), err)
	}
	return tmpl, nil
}

// compileCondition compiles an expr-lang boolean over result; "" is no
// condition.
func compileCondition(cond string) (*vm.Program, error) {
	if strings.TrimSpace(cond) == "" {
		return nil, nil
	}
	p, err := expr.Compile(cond, expr.Env(exprEnv{}), expr.AsBool())
	if err != nil {
		// expr's messages span lines with a caret under the column; one line
		// reads better after "file:line: path:".
		return nil, fmt.Errorf("expression %q: %s", cond, oneLine(err.Error()))
	}
	return p, nil
}

func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(first)
}

func checkConditionMetric(at string, m Metric) []error {
	var errs []error
	if strings.TrimSpace(m.SuccessCondition) == "" && strings.TrimSpace(m.FailureCondition) == "" {
		errs = append(errs, &FieldError{Path: at, Err: errors.New("needs a successCondition or a failureCondition")})
	}
	notJudge := func(field string) {
		errs = append(errs, &FieldError{Path: at + "." + field, Err: errors.New("is for judge templates only")})
	}
	if m.Direction != "" {
		notJudge("direction")
	}
	if m.Critical {
		notJudge("critical")
	}
	if m.Weight != 0 {
		notJudge("weight")
	}
	return errs
}

func checkJudgeMetric(at string, m *Metric) []error {
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, &FieldError{Path: at + "." + field, Err: errors.New(msg)})
	}
	if m.SuccessCondition != "" {
		bad("successCondition", "is not used by a judge template: the judge decides")
	}
	if m.FailureCondition != "" {
		bad("failureCondition", "is not used by a judge template: the judge decides")
	}
	if m.Direction == "" {
		m.Direction = DefaultDirection
	} else if !knownDirection(m.Direction) {
		bad("direction", fmt.Sprintf("%q is not increase, decrease or either", m.Direction))
	}
	switch {
	case m.Weight < 0 || math.IsNaN(m.Weight) || math.IsInf(m.Weight, 0):
		bad("weight", fmt.Sprintf("%v is not a non-negative number", m.Weight))
	case m.Weight == 0:
		m.Weight = 1
	}
	return errs
}

// checkJudge checks j and applies its defaults.
func checkJudge(j *Judge) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Path: "judge." + field, Err: fmt.Errorf(format, args...)})
	}
	defDur := func(field string, d *time.Duration, def time.Duration) {
		switch {
		case *d < 0:
			bad(field, "%s is negative", *d)
		case *d == 0:
			*d = def
		}
	}
	defDur("lookback", &j.Lookback, DefaultLookback)
	defDur("step", &j.Step, DefaultStep)
	if j.Step > 0 && j.Lookback > 0 {
		switch {
		case j.Step > j.Lookback:
			bad("step", "%s is longer than the lookback %s", j.Step, j.Lookback)
		case j.Lookback/j.Step > maxPoints:
			bad("step", "%s over a lookback of %s gives more than %d points", j.Step, j.Lookback, maxPoints)
		}
	}
	defFloat := func(field string, v *float64, def float64, ok func(float64) bool, want string) {
		switch {
		case *v == 0:
			*v = def
		case math.IsNaN(*v) || !ok(*v):
			bad(field, "%v is not %s", *v, want)
		}
	}
	defFloat("confidence", &j.Confidence, DefaultConfidence, func(v float64) bool { return v > 0 && v < 1 }, "between 0 and 1 (e.g. 0.95)")
	defFloat("tolerance", &j.Tolerance, DefaultTolerance, func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }, "a non-negative fraction (e.g. 0.1 for 10%)")
	defFloat("minEffect", &j.MinEffect, DefaultMinEffect, func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }, "a non-negative number")
	inScore := func(v float64) bool { return v > 0 && v <= 100 }
	defFloat("pass", &j.Pass, DefaultPass, inScore, "a score between 0 and 100")
	defFloat("marginal", &j.Marginal, DefaultMarginal, inScore, "a score between 0 and 100")
	if j.Marginal > j.Pass && inScore(j.Marginal) && inScore(j.Pass) {
		bad("marginal", "%v is above pass %v (0 <= marginal <= pass <= 100)", j.Marginal, j.Pass)
	}
	return errs
}
