package verify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
	"github.com/ferry-dev/ferry/analysis"
)

const pipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true, analysis: smoke}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true, analysis: smoke}
  - {name: prod, overlay: overlays/prod, from: qa,  auto: true}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Version}}"}[1m]))', successCondition: result == 0}
`

type world struct {
	t     *testing.T
	ctx   context.Context
	cfg   *config.Pipeline
	repo  *fleet.Repo
	pub   *publish.Publisher
	v     *Verifier
	clock time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	repo := fleettest.Clone(t, fleettest.Remote(t, "verify-test"), "ferry")
	w := &world{t: t, ctx: context.Background(), cfg: cfg, repo: repo, clock: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	now := func() time.Time { return w.clock }
	w.pub = publish.New(repo, publish.Options{Backoff: time.Millisecond, Now: now})
	w.v = New(Options{Config: cfg, Log: repo, Now: now})
	files := map[string][]byte{}
	for _, env := range []string{"dev", "qa", "prod"} {
		files["overlays/"+env+"/kustomization.yaml"] = []byte("images:\n- name: registry.example/shop/checkout\n  newTag: 0.0.0\n")
	}
	w.push(nil, files)
	return w
}

func (w *world) push(parent *fleet.Snapshot, files map[string][]byte) *fleet.Snapshot {
	w.t.Helper()
	w.clock = w.clock.Add(time.Minute)
	s, err := w.repo.Commit(parent, files, "a person's commit\n", w.clock)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.repo.Push(w.ctx, s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// set moves envs to tag in one commit, as a person would.
func (w *world) set(tag string, envs ...string) *fleet.Snapshot {
	head := w.head()
	files := map[string][]byte{}
	for _, env := range envs {
		files["overlays/"+env+"/kustomization.yaml"] = []byte("images:\n- name: registry.example/shop/checkout\n  newTag: " + tag + "\n")
	}
	return w.push(head, files)
}

func (w *world) head() *fleet.Snapshot {
	w.t.Helper()
	s, err := w.repo.Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) owed() []Verification {
	w.t.Helper()
	notes, err := w.repo.FetchNotes(w.ctx, ledger.NotesRef)
	if err != nil {
		w.t.Fatal(err)
	}
	st := state.Read(w.cfg, w.head(), notes)
	out, err := w.v.Owed(w.ctx, st, func(*config.App, *config.Environment) bool { return false },
		func(_, tag string) bool { return tag != "0.0.0" })
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func describe(vs []Verification) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s=%s@%s", v.Env, v.Version.Tag, ledger.ShortHash(v.Commit)))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// TestOneCommitTwoVerifications (issue 17): a person's commit brings 1.1.0
// into dev and qa, both analysed. Each owes a verification of that
// commit; recording one verdict leaves the other owed, and the note ends
// up holding both.
func TestOneCommitTwoVerifications(t *testing.T) {
	w := newWorld(t)
	c := w.set("1.1.0", "dev", "qa")
	short := ledger.ShortHash(c.Hash())
	if got := describe(w.owed()); got != "dev=1.1.0@"+short+" qa=1.1.0@"+short {
		t.Fatalf("owed: %s", got)
	}
	for i, env := range []string{"qa", "dev"} {
		ver := Verification{App: "checkout", Env: env, Commit: c.Hash(), Version: ledger.Version{Tag: "1.1.0"}, Template: "smoke"}
		verdict := []analysis.Verdict{analysis.Successful, analysis.Failed}[i]
		if err := w.v.Record(w.ctx, w.pub, ver, analysis.Result{Template: "smoke", Verdict: verdict, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := describe(w.owed()); got != "" {
		t.Fatalf("still owed after both verdicts: %s", got)
	}
	notes, err := w.repo.FetchNotes(w.ctx, ledger.NotesRef)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := notes.Get(c.Hash())
	if err != nil {
		t.Fatal(err)
	}
	n := ledger.ParseNote(text)
	qa, okQA := n.For("checkout", "qa", "", ledger.Version{Tag: "1.1.0"})
	dev, okDev := n.For("checkout", "dev", "", ledger.Version{Tag: "1.1.0"})
	if !okQA || !okDev || qa.Verdict != ledger.Successful || dev.Verdict != ledger.Failed {
		t.Fatalf("note:\n%s", text)
	}
}

// TestOwed: what a verified environment owes, from Git alone.
func TestOwed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *world) string // returns the short hash the verification must name
		want  string                // describe(owed), %s replaced by the hash
	}{
		{"the placeholder", func(w *world) string { return "" }, ""},
		{"a version in dev", func(w *world) string { return ledger.ShortHash(w.set("1.1.0", "dev").Hash()) }, "dev=1.1.0@%s"},
		{"the commit that brought it, not a later one", func(w *world) string {
			c := w.set("1.1.0", "dev")
			w.set("1.0.0", "prod") // prod is not analysed; the commit changes nothing of dev
			return ledger.ShortHash(c.Hash())
		}, "dev=1.1.0@%s"},
		{"the run the version is in, not an earlier one", func(w *world) string {
			w.set("1.1.0", "dev")
			w.set("1.0.0", "dev")
			return ledger.ShortHash(w.set("1.1.0", "dev").Hash())
		}, "dev=1.1.0@%s"},
		{"a rejected version", func(w *world) string {
			w.set("1.1.0", "dev")
			rej, err := gitstate.AddRejection(nil, gitstate.Rejection{App: "checkout", Version: "1.1.0", Reason: "test", By: "person"})
			if err != nil {
				t.Fatal(err)
			}
			w.push(w.head(), map[string][]byte{gitstate.RejectionsFile: rej})
			return ""
		}, ""},
		{"an environment that is not verified", func(w *world) string { w.set("1.1.0", "prod"); return "" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			hash := tc.setup(w)
			want := tc.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, hash)
			}
			if got := describe(w.owed()); got != want {
				t.Fatalf("owed %q, want %q", got, want)
			}
		})
	}
}

// TestRunWithoutMeasurements: the verdicts Run gives without a metric
// provider in play. A cluster check without cluster access is
// inconclusive (nothing moves on), never a pass.
func TestRunWithoutMeasurements(t *testing.T) {
	w := newWorld(t)
	c := w.set("1.1.0", "dev")
	for _, tc := range []struct {
		name    string
		ver     Verification
		verdict analysis.Verdict
		reason  string
	}{
		{"nothing but readiness to check", Verification{Env: "dev"}, analysis.Successful, "dev serves 1.1.0"},
		{"a cluster without access", Verification{Env: "dev", Cluster: true}, analysis.Inconclusive, "no Kubernetes access"},
		{"an unknown analysis", Verification{Env: "dev", Template: "nope"}, analysis.Inconclusive, `analysis "nope" is not configured`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ver := tc.ver
			ver.App, ver.Commit, ver.Version = "checkout", c.Hash(), ledger.Version{Tag: "1.1.0"}
			res, err := w.v.Run(w.ctx, ver)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict || !strings.Contains(res.Reason, tc.reason) {
				t.Fatalf("%s (%s), want %s (%s)", res.Verdict, res.Reason, tc.verdict, tc.reason)
			}
		})
	}
	if _, err := w.v.Run(w.ctx, Verification{App: "checkout", Env: "nowhere"}); err == nil {
		t.Fatal("a verification of an unknown environment ran")
	}
	ver := Verification{App: "checkout", Env: "dev", Commit: c.Hash(), Version: ledger.Version{Tag: "1.1.0"}}
	if err := w.v.Record(w.ctx, w.pub, ver, analysis.Result{Verdict: analysis.Running}); err == nil {
		t.Fatal("a running analysis was recorded as a verdict")
	}
}

// TestOwedUnderVerifyCommits: under git.verifyCommits require a person's
// unsigned manual promotion is not the environment's version, so it owes
// no verification; ferry's own signed commit does. Under warn both do.
func TestOwedUnderVerifyCommits(t *testing.T) {
	key := gitsigtest.NewSSHKey(t, "ferry")
	signer, err := gitsig.LoadSSHSigner(key.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	for mode, want := range map[string]string{state.VerifyRequire: "qa=1.1.0@%s", state.VerifyWarn: "dev=1.1.0@%s qa=1.1.0@%s"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t)
			person := w.set("1.1.0", "dev")
			// ferry's clone signs its commits.
			signed, err := fleet.Open(w.ctx, fleet.Options{URL: w.repo.URL(), InMemory: true, Signer: signer,
				Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			own := fleettest.Push(t, signed, map[string][]byte{"overlays/qa/kustomization.yaml": []byte("images:\n- name: registry.example/shop/checkout\n  newTag: 1.1.0\n")},
				"promote checkout 1.1.0 to qa\n", w.clock.Add(time.Minute))
			w.v.opts.Signatures = state.NewSignatures(config.VerifyCommits{Mode: mode, AllowedSigners: ".ferry/allowed_signers"}, w.repo, signer, "ferry@example.com", nil)
			exp := strings.Replace(want, "qa=1.1.0@%s", "qa=1.1.0@"+ledger.ShortHash(own.Hash()), 1)
			exp = strings.Replace(exp, "%s", ledger.ShortHash(person.Hash()), 1)
			if got := describe(w.owed()); got != exp {
				t.Fatalf("owed %q, want %q", got, exp)
			}
		})
	}
}
