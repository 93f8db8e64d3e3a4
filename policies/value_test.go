package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

type valueFinding struct {
	ID      string `json:"id"`
	Fixed   string `json:"fixed,omitempty"`
	Score   int    `json:"score,omitempty"`
	Skipped string `json:"-"`
	Dash    string `json:"-,"`
	NoTag   bool
	hidden  string
}

type valueReport struct {
	Summary  map[string]int `json:"summary"`
	Findings []valueFinding `json:"findings"`
	Next     *valueReport   `json:"next,omitempty"`
	Any      any            `json:"any"`
	Named    map[kind]uint8 `json:"named"`
}

type kind string

type embeds struct {
	valueFinding
	Extra string `json:"extra"`
}

type quoted struct {
	N int `json:"n,string"`
}

type floats struct {
	F float64 `json:"f"`
}

type custom struct{ s string }

func (c custom) MarshalJSON() ([]byte, error) { return json.Marshal("custom:" + c.s) }

type textKey string

func (k textKey) MarshalText() ([]byte, error) { return []byte("k-" + string(k)), nil }

// TestGoValueIsInterfaceToValue checks the input conversion without a JSON
// round trip reads every value as OPA's own (through JSON) does, including
// the ones it hands back to OPA.
func TestGoValueIsInterfaceToValue(t *testing.T) {
	var nilReport *valueReport
	report := &valueReport{
		Summary:  map[string]int{"HIGH": 3, "LOW": 0},
		Findings: []valueFinding{{ID: "CVE-1", Fixed: "1.2", Score: 7, Skipped: "x", Dash: "d", NoTag: true, hidden: "h"}, {ID: "CVE-2 <&>"}},
		Any:      []any{1, "two", map[string]any{"three": 3.5}},
		Named:    map[kind]uint8{"a": 1},
	}
	report.Next = &valueReport{Findings: []valueFinding{}}
	for _, tc := range []struct {
		name string
		in   any
	}{
		{"report", report},
		{"report value", *report},
		{"empty", valueReport{}},
		{"in a map", map[string]any{"trivy": report, "n": int64(3), "f": 7200.0, "s": []string{"a"}, "nil": nil, "m": map[string]string{"k": "v"}}},
		{"in a slice", []any{report, valueFinding{ID: "x"}, &valueFinding{}}},
		{"embedded", embeds{valueFinding{ID: "e"}, "x"}},
		{"string option", quoted{5}},
		{"floats", floats{0.1}},
		{"big float", map[string]any{"f": floats{1e21}}},
		{"MarshalJSON", map[string]any{"c": custom{"x"}, "cs": []custom{{"y"}}}},
		{"TextMarshaler keys", map[textKey]int{"a": 1}},
		{"time", map[string]any{"t": time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)}},
		{"bad UTF-8", valueFinding{ID: "a\xffb"}},
		{"bytes", struct {
			B []byte `json:"b"`
		}{[]byte("hi")}},
		{"typed slices", map[string]any{"ints": []int{1, 2}, "strs": []kind{"a"}, "maps": []map[string]any{{"a": 1}}}},
		{"uints", map[string]any{"u": uint32(7), "max": uint64(1<<64 - 1)}},
		{"interface field", valueReport{Any: valueFinding{ID: "i"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantErr := ast.InterfaceToValue(tc.in)
			got, err := goValue(tc.in)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, InterfaceToValue's %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if ast.Compare(got, want) != 0 || got.String() != want.String() {
				t.Errorf("goValue =\n  %v\nInterfaceToValue =\n  %v", got, want)
			}
		})
	}
	// InterfaceToValue panics on a nil pointer (util.Reference); JSON
	// encodes it as null, and so does goValue.
	got, err := goValue(map[string]any{"r": nilReport, "f": (*valueFinding)(nil)})
	if err != nil || got.String() != `{"f": null, "r": null}` {
		t.Errorf("nil pointers: %v, %v; want nulls", got, err)
	}
}

// TestInputReads checks which paths of input a decision converts: each
// ref to input up to its first key that is not fixed, object.get's fixed
// keys, and all of it when input is named whole.
func TestInputReads(t *testing.T) {
	paths := func(r *reads) []string {
		var out []string
		var walk func(r *reads, path string)
		walk = func(r *reads, path string) {
			if r.all {
				out = append(out, path)
				return
			}
			for k, kid := range r.kids {
				walk(kid, path+"."+k)
			}
		}
		walk(r, "input")
		slices.Sort(out)
		return out
	}
	always := []string{"input.app.name", "input.candidate.version", "input.environment.name"}
	for _, tc := range []struct {
		name, rules string
		want        []string
	}{
		{"refs", `deny contains "x" if { input.evidence.trivy.findings[_].severity == "HIGH"; input.time }`,
			[]string{"input.evidence.trivy.findings", "input.time"}},
		{"a key read from input", `deny contains "x" if input.evidence.analysis[input.environment.from].verdict`,
			[]string{"input.environment.from", "input.evidence.analysis"}},
		{"object.get with a fixed key", `deny contains "x" if { object.get(input.evidence.soak, "seconds", 0) < 1; count(object.get(input.app, ["verify", "builders"], [])) > 0 }`,
			[]string{"input.app.verify.builders", "input.evidence.soak.seconds"}},
		{"object.get with a computed key", `deny contains "x" if { k := "seconds"; object.get(input.evidence.soak, k, 0) < 1 }`,
			[]string{"input.evidence.soak"}},
		{"template string", `deny contains $"{input.current.version}" if true`, []string{"input.current.version"}},
		{"input whole", `deny contains "x" if count(input) > 1`, []string{"input"}},
		{"its keys", `deny contains k if some k, _ in input`, []string{"input"}},
		{"with", `deny contains "x" if { data.ferry.promotion.h with input as {} }
h if input.app`, []string{"input"}},
		{"an import", `import input.evidence as ev
deny contains "x" if ev.soak`, []string{"input"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ast.ParseModuleWithOpts("p.rego", "package ferry.promotion\n\n"+tc.rules, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				t.Fatal(err)
			}
			got := paths(inputReads(map[string]*ast.Module{"p.rego": m}))
			want := tc.want
			if !slices.Equal(want, []string{"input"}) {
				want = append(slices.Clone(always), want...)
				slices.Sort(want)
				want = slices.Compact(want)
			}
			if !slices.Equal(got, want) {
				t.Errorf("reads %q, want %q", got, want)
			}
		})
	}
}

// TestDecideConcurrently decides inputs as the agent builds them from
// several goroutines at once (run with -race): the key terms shared by
// conversions and the prepared query are only read.
func TestDecideConcurrently(t *testing.T) {
	e := defaultEngine(t)
	want, err := e.Decide(context.Background(), agentInput(t, benchInput))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		in := agentInput(t, benchInput)
		wg.Go(func() {
			for range 20 {
				d, err := e.Decide(context.Background(), in)
				if err == nil && !equalDecisions(d, want) {
					err = fmt.Errorf("decided %+v, want %+v", d, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
