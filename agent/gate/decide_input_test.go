package gate

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/policies"
	"github.com/open-policy-agent/opa/v1/ast"
)

// TestDecideAgentInputAsWhole: the input the gate builds (its maps, the
// Trivy report's structs, int64 and float64 numbers) is decided by the
// default policies as the same document converted whole by OPA is: the
// engine converts only what the policies read, without a JSON round trip.
func TestDecideAgentInputAsWhole(t *testing.T) {
	files := map[string]string{}
	for name, data := range policies.DefaultFiles() {
		files["policies/"+name] = string(data)
	}
	for _, tc := range []struct {
		name  string
		setup func(w *world)
	}{
		{"clean scan", func(w *world) {
			w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
			w.scan("clean")
		}},
		{"critical findings", func(w *world) {
			w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Failed)
			w.scan("1.1.0")
		}},
		{"no scan, no verdict", func(w *world) { w.move("1.1.0", "dev", "qa") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, files)
			tc.setup(w)
			head := w.head()
			notes, err := w.repo.FetchNotes(w.ctx, ledger.NotesRef)
			if err != nil {
				t.Fatal(err)
			}
			now := head.Time().Add(30 * time.Minute)
			g := New(Options{Config: w.cfg, Log: w.repo, Now: func() time.Time { return now }})
			st := state.Read(w.cfg, head, notes)
			app, _ := w.cfg.App("checkout")
			engine, err := g.Policies(w.ctx, head)
			if err != nil || engine == nil {
				t.Fatalf("policies: %v, %v", engine, err)
			}
			for _, envName := range []string{"qa", "prod"} {
				env, _ := w.cfg.Env(envName)
				input, _, err := g.Input(w.ctx, &Request{App: app, Env: env, From: env.From, Candidate: ledger.Version{Tag: "1.1.0"},
					Current: ledger.Version{Tag: "1.0.0"}, State: st})
				if err != nil {
					t.Fatal(err)
				}
				whole, err := ast.InterfaceToValue(input)
				if err != nil {
					t.Fatal(err)
				}
				want, err := engine.Decide(context.Background(), whole)
				if err != nil {
					t.Fatal(err)
				}
				got, err := engine.Decide(context.Background(), input)
				if err != nil {
					t.Fatal(err)
				}
				if got.Allow != want.Allow || !slices.Equal(got.Deny, want.Deny) || !slices.Equal(got.Warn, want.Warn) {
					t.Errorf("%s: from the gate's input %+v, converted whole %+v", envName, got, want)
				}
				if envName == "prod" && (got.Allow || len(got.Deny) == 0) {
					t.Errorf("prod allowed after 30 minutes' soak: %+v", got)
				}
				t.Logf("%s: %s", envName, strings.Join(got.Deny, " | "))
			}
		})
	}
}
