package analysis

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var providerNames = []string{"prometheus", "thanos"}

const errQuery = `sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}",code=~"5.."}[1m])) / sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",version="{{.Version}}"}[1m]))`

func TestCompileDefaults(t *testing.T) {
	t.Parallel()
	c, err := Compile(Template{Name: "smoke", Metrics: []Metric{
		{Name: "error-ratio", Query: errQuery, SuccessCondition: "result < 0.01"},
		{Name: "p99", Query: "vector(1)", FailureCondition: "result > 0.5", Provider: "thanos"},
	}}, providerNames)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Template()
	if got.Provider != "prometheus" || got.Interval != 10*time.Second || got.Count != 1 ||
		got.ConsecutiveErrorLimit == nil || *got.ConsecutiveErrorLimit != 4 {
		t.Errorf("defaults not applied: %+v", got)
	}
	if got.Metrics[0].Provider != "prometheus" || got.Metrics[1].Provider != "thanos" {
		t.Errorf("metric providers %q, %q", got.Metrics[0].Provider, got.Metrics[1].Provider)
	}
	q, err := c.Metric(0).Query(Vars{App: "checkout", Env: "prod", Version: "1.4.2"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(q, `app="checkout",env="prod",version="1.4.2"`) {
		t.Errorf("rendered query %s", q)
	}

	j, err := Compile(Template{Name: "judge", Judge: &Judge{Pass: 90}, Metrics: []Metric{
		{Name: "error-ratio", Query: errQuery},
		{Name: "throughput", Query: "vector(1)", Direction: "decrease", Weight: 3, Critical: true},
	}}, providerNames)
	if err != nil {
		t.Fatal(err)
	}
	jt := j.Template()
	want := Judge{Lookback: 5 * time.Minute, Step: 10 * time.Second, Confidence: 0.95, Tolerance: 0.1, MinEffect: 1e-9, Pass: 90, Marginal: 75}
	if *jt.Judge != want {
		t.Errorf("judge %+v, want %+v", *jt.Judge, want)
	}
	if m := jt.Metrics[0]; m.Direction != "increase" || m.Weight != 1 {
		t.Errorf("judge metric defaults: %+v", m)
	}
	if m := jt.Metrics[1]; m.Direction != "decrease" || m.Weight != 3 || !m.Critical {
		t.Errorf("judge metric kept: %+v", m)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	ok := Metric{Name: "ok", Query: "vector(1)", SuccessCondition: "result < 1"}
	neg := -1
	tests := []struct {
		name string
		t    Template
		want []string // "path: substring", in order
	}{
		{name: "no metrics", t: Template{}, want: []string{"metrics: at least one metric"}},
		{name: "unknown provider", t: Template{Provider: "datadog", Metrics: []Metric{ok}},
			want: []string{`provider: unknown metric provider "datadog" (known: prometheus, thanos)`}},
		{name: "unknown metric provider", t: Template{Metrics: []Metric{ok, {Name: "b", Query: "up", SuccessCondition: "result > 0", Provider: "graphite"}}},
			want: []string{`metrics[1].provider: unknown metric provider "graphite"`}},
		{name: "negative numbers", t: Template{Interval: -time.Second, Count: -1, InitialDelay: -time.Minute, FailureLimit: -1, InconclusiveLimit: -2, ConsecutiveErrorLimit: &neg, Metrics: []Metric{ok}},
			want: []string{"interval: -1s is negative", "count: -1 is negative", "initialDelay: -1m0s is negative", "failureLimit: -1", "inconclusiveLimit: -2", "consecutiveErrorLimit: -1"}},
		{name: "names", t: Template{Metrics: []Metric{ok, {Query: "up", SuccessCondition: "true"}, ok}},
			want: []string{"metrics[1].name: is empty", `metrics[2].name: "ok" is also the name of metrics[0]`}},
		{name: "empty query", t: Template{Metrics: []Metric{{Name: "a", SuccessCondition: "result > 0"}}},
			want: []string{"metrics[0].query: is empty"}},
		{name: "query template does not parse", t: Template{Metrics: []Metric{{Name: "a", Query: "up{app=\"{{.App}\"}", SuccessCondition: "result > 0"}}},
			want: []string{"metrics[0].query: template:"}},
		{name: "query names an unknown variable", t: Template{Metrics: []Metric{{Name: "a", Query: `up{app="{{.Application}}"}`, SuccessCondition: "result > 0"}}},
			want: []string{"metrics[0].query: template (variables are .App .Env .Version .Stable .Canary)"}},
		{name: "PromQL does not parse", t: Template{Metrics: []Metric{ok, {Name: "a", Query: `sum(rate(up{app="{{.App}}"}[1m])`, SuccessCondition: "result > 0"}}},
			want: []string{`metrics[1].query: PromQL "sum(rate(up{app=\"app\"}[1m])"`}},
		{name: "conditions do not compile", t: Template{Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result <", FailureCondition: "value > 1"}}},
			want: []string{`metrics[0].successCondition: expression "result <"`, `metrics[0].failureCondition: expression "value > 1": unknown name value`}},
		{name: "condition is not boolean", t: Template{Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result * 2"}}},
			want: []string{`metrics[0].successCondition: expression "result * 2": expected bool`}},
		{name: "no condition", t: Template{Metrics: []Metric{{Name: "a", Query: "up"}}},
			want: []string{"metrics[0]: needs a successCondition or a failureCondition"}},
		{name: "judge fields without a judge", t: Template{Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0", Direction: "up", Critical: true, Weight: 2}}},
			want: []string{"metrics[0].direction: is for judge templates only", "metrics[0].critical: is for judge templates only", "metrics[0].weight: is for judge templates only"}},
		{name: "judge metric", t: Template{Judge: &Judge{}, Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "result > 0", FailureCondition: "result < 0", Direction: "up", Weight: -1}}},
			want: []string{"metrics[0].successCondition: is not used by a judge template", "metrics[0].failureCondition: is not used", `metrics[0].direction: "up" is not increase, decrease or either`, "metrics[0].weight: -1 is not a non-negative number"}},
		{name: "judge numbers", t: Template{Judge: &Judge{Lookback: -time.Minute, Step: -time.Second, Confidence: 1.5, Tolerance: -0.1, MinEffect: -1, Pass: 101, Marginal: -3}, Metrics: []Metric{{Name: "a", Query: "up"}}},
			want: []string{"judge.lookback: -1m0s is negative", "judge.step: -1s is negative", "judge.confidence: 1.5 is not between 0 and 1", "judge.tolerance: -0.1", "judge.minEffect: -1", "judge.pass: 101 is not a score", "judge.marginal: -3 is not a score"}},
		{name: "judge marginal above pass", t: Template{Judge: &Judge{Pass: 60}, Metrics: []Metric{{Name: "a", Query: "up"}}},
			want: []string{"judge.marginal: 75 is above pass 60"}},
		{name: "judge step", t: Template{Judge: &Judge{Lookback: time.Minute, Step: 2 * time.Minute}, Metrics: []Metric{{Name: "a", Query: "up"}}},
			want: []string{"judge.step: 2m0s is longer than the lookback 1m0s"}},
		{name: "judge too many points", t: Template{Judge: &Judge{Lookback: 24 * time.Hour, Step: time.Second}, Metrics: []Metric{{Name: "a", Query: "up"}}},
			want: []string{"judge.step: 1s over a lookback of 24h0m0s gives more than 11000 points"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.t.Name = "smoke"
			c, err := Compile(tt.t, providerNames)
			if err == nil {
				t.Fatalf("Compile = %+v, want errors %q", c.Template(), tt.want)
			}
			var got []*FieldError
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				fe, ok := e.(*FieldError)
				if !ok {
					t.Fatalf("%v is not a *FieldError", e)
				}
				got = append(got, fe)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, want := range tt.want {
				path, msg, _ := strings.Cut(want, ": ")
				if got[i].Path != path || !strings.Contains(got[i].Err.Error(), msg) || got[i].Error() != got[i].Path+": "+got[i].Err.Error() {
					t.Errorf("error %d: %q, want path %q and %q", i, got[i], path, msg)
				}
			}
		})
	}
}

func TestCompileUnknownProviderIs(t *testing.T) {
	t.Parallel()
	_, err := Compile(Template{Provider: "x", Metrics: []Metric{{Name: "a", Query: "up", SuccessCondition: "true"}}}, nil)
	if !errors.Is(err, ErrUnknownProvider) || !strings.Contains(err.Error(), "none is configured") {
		t.Errorf("error %v", err)
	}
}

func TestProvidersGet(t *testing.T) {
	t.Parallel()
	prom := &fakeProvider{}
	ps := Providers{"prometheus": prom, "thanos": &fakeProvider{}, "broken": nil}
	if p, err := ps.Get(""); err != nil || p != prom {
		t.Errorf(`Get("") = %v, %v; want the prometheus provider`, p, err)
	}
	if p, err := ps.Get("thanos"); err != nil || p == nil {
		t.Errorf("Get(thanos) = %v, %v", p, err)
	}
	for _, name := range []string{"datadog", "broken"} {
		_, err := ps.Get(name)
		if !errors.Is(err, ErrUnknownProvider) || !strings.HasSuffix(err.Error(), "(known: prometheus, thanos)") {
			t.Errorf("Get(%s) error %v", name, err)
		}
	}
	if _, err := (Providers{}).Get(""); err == nil || !strings.Contains(err.Error(), "none is configured") {
		t.Errorf("empty Providers: %v", err)
	}
	if !slices.IsSorted(providerNames) {
		t.Fatal("test list unsorted")
	}
}

func TestCheckQuery(t *testing.T) {
	t.Parallel()
	if err := CheckQuery(errQuery); err != nil {
		t.Errorf("CheckQuery(valid) = %v", err)
	}
	for q, want := range map[string]string{"": "is empty", "up{": "PromQL", "{{.Nope}}": "can't evaluate field Nope"} {
		if err := CheckQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckQuery(%q) = %v, want an error containing %q", q, err, want)
		}
	}
}
