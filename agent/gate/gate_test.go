package gate

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
)

// The gate is asked here as a pass asks it: over a real fleet repo (the
// in-memory remote), with the verdict notes git holds, and the fleet's
// Rego policies compiled by the real OPA engine.

const pipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - name: checkout
    image: registry.example/shop/checkout
    tags: {semver: ">=1.0.0"}
    evidence: {trivy: {from: file, file: "scans/{{.App}}-{{.Version}}.json"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true, analysis: smoke}
  - {name: prod, overlay: overlays/prod, from: qa,  auto: true, soak: 1h}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Version}}"}[1m]))', successCondition: result == 0}
`

// The policy the cases judge against: prod needs qa's Successful verdict,
// an hour in qa, no CRITICAL finding in a report that must exist, and
// the version not rejected.
const policy = `package ferry.promotion

deny contains "no qa verdict" if {
	input.environment.name == "prod"
	not input.evidence.analysis.qa.verdict
}

deny contains sprintf("qa verdict %s", [v]) if {
	v := input.evidence.analysis.qa.verdict
	v != "Successful"
}

deny contains sprintf("soaked %ds of %ds", [input.evidence.soak.seconds, input.environment.soak_seconds]) if {
	input.evidence.soak.seconds < input.environment.soak_seconds
}

deny contains "no scan" if {
	not input.evidence.trivy
}

deny contains sprintf("%d critical", [n]) if {
	n := input.evidence.trivy.summary.CRITICAL
	n > 0
}

deny contains "rejected" if {
	some v in input.evidence.rejected
	v == input.candidate.version
}
`

type world struct {
	t      *testing.T
	ctx    context.Context
	cfg    *config.Pipeline
	remote *fleet.MemoryRemote
	repo   *fleet.Repo
	now    time.Time
}

func kustomization(tag string) string {
	return "images:\n- name: registry.example/shop/checkout\n  newTag: " + tag + "\n"
}

func newWorld(t *testing.T, policies map[string]string) *world {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), cfg: cfg, now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC),
		remote: fleettest.Remote(t, "gate-test")}
	w.repo = fleettest.Clone(t, w.remote, "ferry")
	files := map[string]string{}
	for _, env := range []string{"dev", "qa", "prod"} {
		files["overlays/"+env+"/kustomization.yaml"] = kustomization("1.0.0")
	}
	for p, c := range policies {
		files[p] = c
	}
	w.commit(nil, files, "seed")
	return w
}

// commit pushes files on the head (nil parent: the first commit).
func (w *world) commit(parent *fleet.Snapshot, files map[string]string, msg string) *fleet.Snapshot {
	w.t.Helper()
	b := map[string][]byte{}
	for p, c := range files {
		b[p] = []byte(c)
	}
	w.now = w.now.Add(time.Minute)
	s, err := w.repo.Commit(parent, b, msg+"\n", w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.repo.Push(w.ctx, s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) head() *fleet.Snapshot {
	w.t.Helper()
	s, err := w.repo.Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// move sets envs to tag in one commit.
func (w *world) move(tag string, envs ...string) *fleet.Snapshot {
	files := map[string]string{}
	for _, env := range envs {
		files["overlays/"+env+"/kustomization.yaml"] = kustomization(tag)
	}
	return w.commit(w.head(), files, "move "+strings.Join(envs, ",")+" to "+tag)
}

// verdict adds env's verdict on tag to the note on commit, keeping the others.
func (w *world) verdict(commit *fleet.Snapshot, env, tag, result string) {
	w.t.Helper()
	err := w.repo.EditNote(w.ctx, ledger.NotesRef, commit.Hash(), func(old string) (string, bool) {
		return ledger.ParseNote(old).With(ledger.Verdict{App: "checkout", Env: env, Version: ledger.Version{Tag: tag},
			Analysis: "smoke", Verdict: result, Reason: "test"}).String(), true
	}, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) scan(tag string) {
	w.t.Helper()
	report, err := os.ReadFile("../evidence/trivy/testdata/reports/image-alpine.json")
	if err != nil {
		w.t.Fatal(err)
	}
	if tag == "clean" {
		report = []byte(`{"SchemaVersion": 2, "ArtifactName": "checkout", "ArtifactType": "container_image", "Results": []}`)
		tag = "1.1.0"
	}
	w.commit(w.head(), map[string]string{"scans/checkout-" + tag + ".json": string(report)}, "scan")
}

// TestDecide: prod's gate for checkout 1.1.0 coming from qa, on the
// evidence the fleet repo holds. Verdicts bind to the commit that brought
// the version into qa: another environment's verdict on the same commit,
// or a verdict on an earlier run of the same version, is not qa's.
func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setup    func(w *world)
		soaked   time.Duration // time after the last commit when prod decides
		allow    bool
		deny     []string // exactly these denials, in any order
		evidence []string // evidence lines that must be there
		notes    []string // notes that must be there
	}{
		{name: "everything in order", soaked: 2 * time.Hour, allow: true,
			setup: func(w *world) {
				c := w.move("1.1.0", "dev", "qa")
				w.verdict(c, "qa", "1.1.0", ledger.Successful)
				w.scan("clean")
			},
			evidence: []string{"analysis smoke in qa: Successful", "soak qa 2h", "trivy file scans/checkout-1.1.0.json: CRITICAL=0"}},
		{name: "no verdict yet", soaked: 2 * time.Hour, deny: []string{"no qa verdict"},
			setup: func(w *world) {
				w.move("1.1.0", "dev", "qa")
				w.scan("clean")
			},
			notes: []string{"qa has no analysis verdict for 1.1.0 yet"}},
		{name: "qa failed it", soaked: 2 * time.Hour, deny: []string{"qa verdict Failed"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Failed)
				w.scan("clean")
			}},
		{name: "one commit, two verdicts: qa's is read", soaked: 2 * time.Hour, allow: true,
			setup: func(w *world) {
				c := w.move("1.1.0", "dev", "qa")
				w.verdict(c, "dev", "1.1.0", ledger.Failed)
				w.verdict(c, "qa", "1.1.0", ledger.Successful)
				w.scan("clean")
			},
			evidence: []string{"analysis smoke in qa: Successful"}},
		{name: "a verdict on an earlier run of the version", soaked: 2 * time.Hour, deny: []string{"no qa verdict"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
				w.move("1.0.0", "qa") // a person took it out...
				w.move("1.1.0", "qa") // ...and put it back: this run has not been verified
				w.scan("clean")
			}},
		{name: "soaking", soaked: 30 * time.Minute, deny: []string{"soaked 1860s of 3600s"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
				w.scan("clean")
			}},
		{name: "critical findings", soaked: 2 * time.Hour, deny: []string{"4 critical"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
				w.scan("1.1.0")
			},
			evidence: []string{"trivy file scans/checkout-1.1.0.json: CRITICAL=4 HIGH=3"}},
		{name: "no scan report", soaked: 2 * time.Hour, deny: []string{"no scan"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
			},
			notes: []string{"no Trivy report at scans/checkout-1.1.0.json in the fleet repo"}},
		{name: "rejected", soaked: 2 * time.Hour, deny: []string{"rejected"},
			setup: func(w *world) {
				w.verdict(w.move("1.1.0", "dev", "qa"), "qa", "1.1.0", ledger.Successful)
				w.scan("clean")
				rej, err := gitstate.AddRejection(nil, gitstate.Rejection{App: "checkout", Version: "1.1.0", Reason: "by hand", By: "person"})
				if err != nil {
					t.Fatal(err)
				}
				w.commit(w.head(), map[string]string{gitstate.RejectionsFile: string(rej)}, "reject")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, map[string]string{"policies/gate.rego": policy})
			tc.setup(w)
			d, err := w.decide(tc.soaked)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tc.allow || !sameSet(d.Deny, tc.deny) {
				t.Fatalf("allow %v, deny %q; want %v, %q\nevidence %q\nnotes %q", d.Allow, d.Deny, tc.allow, tc.deny, d.Evidence, d.Notes)
			}
			if d.Policy == NoPolicy || d.Policy == "" {
				t.Fatalf("policy hash %q", d.Policy)
			}
			for _, want := range tc.evidence {
				if !containsPrefix(d.Evidence, want) {
					t.Errorf("no evidence line %q in %q", want, d.Evidence)
				}
			}
			for _, want := range tc.notes {
				if !containsPrefix(d.Notes, want) {
					t.Errorf("no note %q in %q", want, d.Notes)
				}
			}
		})
	}
}

// decide asks the gate for prod's move to 1.1.0, soaked after the head.
func (w *world) decide(soaked time.Duration) (*Decision, error) {
	w.t.Helper()
	head := w.head()
	notes, err := w.repo.FetchNotes(w.ctx, ledger.NotesRef)
	if err != nil {
		w.t.Fatal(err)
	}
	now := head.Time().Add(soaked)
	g := New(Options{Config: w.cfg, Log: w.repo, Now: func() time.Time { return now }})
	st := state.Read(w.cfg, head, notes)
	app, _ := w.cfg.App("checkout")
	env, _ := w.cfg.Env("prod")
	return g.Decide(w.ctx, &Request{App: app, Env: env, From: "qa", Candidate: ledger.Version{Tag: "1.1.0"},
		Current: ledger.Version{Tag: "1.0.0"}, State: st})
}

// TestPolicies: no policy directory allows every move; one that does not
// compile stops every move with an error naming the commit.
func TestPolicies(t *testing.T) {
	w := newWorld(t, nil)
	w.move("1.1.0", "dev", "qa")
	d, err := w.decide(0)
	if err != nil || !d.Allow || d.Policy != NoPolicy {
		t.Fatalf("without policies: %+v, %v; want allowed by no policy", d, err)
	}

	// A directory ferry.yaml names that does not exist (a typo) is no
	// "no policies": it stops the promotion.
	w = newWorld(t, nil)
	w.cfg.Policies = "policy/"
	w.move("1.1.0", "dev", "qa")
	if d, err := w.decide(0); err == nil || !strings.Contains(err.Error(), "policies: policy is no directory of the fleet repo") {
		t.Fatalf("a missing policies directory named in ferry.yaml: %+v, %v; want an error naming it", d, err)
	}

	w = newWorld(t, map[string]string{"policies/gate.rego": "package ferry.promotion\n\ndeny contains msg if {\n\tmsg := input.nope[\n}\n"})
	w.move("1.1.0", "dev", "qa")
	head := w.head()
	d, err = w.decide(0)
	if err == nil {
		t.Fatalf("a policy that does not compile decided %+v", d)
	}
	if !strings.Contains(err.Error(), "do not compile") || !strings.Contains(err.Error(), ledger.ShortHash(head.Hash())) {
		t.Fatalf("err = %v; want it to say the policies at %s do not compile", err, ledger.ShortHash(head.Hash()))
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			found = found || x == y
		}
		if !found {
			return false
		}
	}
	return true
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
