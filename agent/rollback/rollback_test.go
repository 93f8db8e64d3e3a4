package rollback

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/internal/dnslabel"
	"github.com/ferry-dev/ferry/overlays"
)

// The rollbacks here run against a real git remote (fleet's in-memory
// one), the example fleet with its base manifests, and the real renderer
// (kustomize), so every commit a rollback makes builds.

const pipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
  - {name: dr,  overlay: overlays/dr,  mirror: qa}
`

// world is a fleet repo with ferry's clone and a person's, on a clock the
// test moves: every commit is a minute after the one before.
type world struct {
	t      *testing.T
	ctx    context.Context
	cfg    *config.Pipeline
	remote *fleet.MemoryRemote
	ferry  *fleet.Repo
	person *fleet.Repo
	rb     *Rollbacker
	now    time.Time
	t0     time.Time
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	w := &world{t: t, ctx: context.Background(), cfg: cfg, now: t0, t0: t0,
		remote: fleettest.Remote(t, "rollback-test")}
	w.person = w.open("person")
	files, err := overlays.ExampleFleet("127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"dev", "qa", "dr"} {
		p := "overlays/" + env + "/kustomization.yaml"
		files[p] = []byte(strings.Replace(string(files[p]), "newTag: 0.0.0", "newTag: 1.0.0", 1))
	}
	fleettest.Push(t, w.person, files, "seed\n", w.now)
	w.ferry = w.open("ferry")
	clock := func() time.Time { return w.now }
	pub := publish.New(w.ferry, publish.Options{Backoff: time.Millisecond, Now: clock})
	w.rb = New(Options{Config: cfg, Publisher: pub, Log: w.ferry, Render: overlays.Render, Now: clock,
		Deliveries: &canary.Deliveries{Config: cfg, Log: w.ferry, Render: overlays.Render, Now: clock}})
	return w
}

func (w *world) open(who string) *fleet.Repo {
	w.t.Helper()
	return fleettest.Clone(w.t, w.remote, who)
}

func (w *world) tick() time.Time { w.now = w.now.Add(time.Minute); return w.now }

// set commits tags (env -> tag) with repo's clone, with rec's message (nil:
// a person's plain commit), and returns the commit.
func (w *world) set(repo *fleet.Repo, tags map[string]string, rec ledger.Record) string {
	w.t.Helper()
	head, err := repo.Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	files := map[string][]byte{}
	for env, tag := range tags {
		p := "overlays/" + env + "/kustomization.yaml"
		data, err := head.ReadFile(p)
		if err != nil {
			w.t.Fatal(err)
		}
		if files[p], _, err = overlays.SetImage(data, overlays.Image{Name: "registry.example/shop/checkout", NewTag: tag}); err != nil {
			w.t.Fatal(err)
		}
	}
	msg := "a person's change\n"
	if rec != nil {
		msg = rec.Message().String()
	}
	c, err := repo.Commit(head, files, msg, w.tick())
	if err != nil {
		w.t.Fatal(err)
	}
	if err := repo.Push(w.ctx, c); err != nil {
		w.t.Fatal(err)
	}
	return c.Hash()
}

// promote is ferry's promotion of tag to env (and the mirror with it).
func (w *world) promote(env, tag string) string {
	w.t.Helper()
	tags := map[string]string{env: tag}
	if env == "qa" {
		tags["dr"] = tag
	}
	return w.set(w.ferry, tags, &ledger.Promotion{App: "checkout", Env: env, Version: ledger.Version{Tag: tag}, Gate: ledger.Gate{From: "dev"}})
}

func (w *world) rollback(req Request) *Result {
	w.t.Helper()
	w.tick()
	res, err := w.rb.Rollback(w.ctx, req)
	if err != nil {
		w.t.Fatalf("rollback %+v: %v", req, err)
	}
	return res
}

// at reads the remote's head: what env runs, the rejected versions.
func (w *world) at() (head string, versions map[string]string, rejected []string) {
	w.t.Helper()
	snap, err := w.open("reader").Fetch(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	versions = map[string]string{}
	for _, env := range []string{"dev", "qa", "dr"} {
		data, err := snap.ReadFile("overlays/" + env + "/kustomization.yaml")
		if err != nil {
			w.t.Fatal(err)
		}
		im, _ := overlays.ReadImages(data)
		versions[env] = im[0].NewTag
	}
	if data, err := snap.ReadFile(gitstate.RejectionsFile); err == nil {
		rs, err := gitstate.ParseRejections(gitstate.RejectionsFile, data)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
			if _, ok := rs.IsRejected("checkout", v, ""); ok {
				rejected = append(rejected, v)
			}
		}
	}
	return snap.Hash(), versions, rejected
}

func failed(commit, tag string) Request {
	return Request{App: "checkout", Env: "qa", Name: "analysis smoke", Cause: "analysis smoke failed for checkout " + tag,
		Judged: &Judged{Version: ledger.Version{Tag: tag}, Commit: commit}}
}

func alert(fp string, started time.Time, about string) Request {
	req := Request{App: "checkout", Env: "qa", Name: "HighErrorRate", Alert: ledger.AlertRef{Fingerprint: fp, Started: started}}
	if about != "" {
		req.About = &ledger.Version{Tag: about}
	}
	return req
}

// TestActsOnlyOnWhatWasJudged (issue 17): a verdict or an alert rolls back
// the version it is about, once, and nothing else. Each case builds qa's
// history, then handles one request; a stale one changes nothing at all
// (no commit, no rejection) and says why.
func TestActsOnlyOnWhatWasJudged(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run builds the history and returns the request to handle.
		run      func(w *world) Request
		stale    bool
		reason   string // in the result's reason
		qa       string // what qa runs afterwards
		dr       string // what its mirror runs afterwards, when not qa's version
		rejected []string
	}{
		{name: "a failed verdict on the version that runs rolls it back",
			run: func(w *world) Request {
				return failed(w.promote("qa", "1.1.0"), "1.1.0")
			},
			qa: "1.0.0", rejected: []string{"1.1.0"}},
		{name: "a late failed verdict on a version replaced since (the issue's log)",
			run: func(w *world) Request {
				bad := w.promote("qa", "1.1.0")
				w.rollback(failed(bad, "1.1.0")) // qa back on 1.0.0, whose analysis starts on the rollback commit
				restored := w.head()
				w.promote("qa", "1.2.0")
				return failed(restored, "1.0.0") // 1.0.0's analysis still saw 1.1.0's errors
			},
			stale: true, reason: "now runs 1.2.0", qa: "1.2.0", rejected: []string{"1.1.0"}},
		{name: "a failed verdict on the version a rollback restored",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.rollback(alert("fp-1", time.Time{}, ""))
				return failed(w.head(), "1.0.0")
			},
			stale: true, reason: "does not roll back further", qa: "1.0.0", rejected: []string{"1.1.0"}},
		{name: "a failed verdict on the same version brought by an earlier commit",
			run: func(w *world) Request {
				first := w.promote("qa", "1.1.0")
				w.set(w.person, map[string]string{"qa": "1.0.0"}, nil)
				w.set(w.person, map[string]string{"qa": "1.1.0"}, nil)
				return failed(first, "1.1.0")
			},
			stale: true, reason: "runs it since commit", qa: "1.1.0"},
		{name: "an alert about another version (its version label)",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.promote("qa", "1.2.0")
				return alert("fp-1", time.Time{}, "1.1.0")
			},
			stale: true, reason: "now runs 1.2.0", qa: "1.2.0"},
		{name: "an alert about the version that runs",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.promote("qa", "1.2.0")
				return alert("fp-1", time.Time{}, "1.2.0")
			},
			qa: "1.1.0", rejected: []string{"1.2.0"}},
		{name: "the same alert episode delivered again",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.promote("qa", "1.2.0")
				started := w.tick()
				w.rollback(alert("fp-1", started, "")) // 1.2.0 -> 1.1.0
				return alert("fp-1", started, "")
			},
			stale: true, reason: "already rolled back", qa: "1.1.0", rejected: []string{"1.2.0"}},
		{name: "a new episode of the same alert",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.promote("qa", "1.2.0")
				w.rollback(alert("fp-1", w.tick(), "")) // 1.2.0 -> 1.1.0
				w.now = w.now.Add(time.Hour)
				return alert("fp-1", w.tick(), "")
			},
			qa: "1.0.0", rejected: []string{"1.1.0", "1.2.0"}},
		{name: "an alert that began before the version arrived",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				started := w.tick()
				w.now = w.now.Add(ClockSkew)
				w.promote("qa", "1.2.0")
				return alert("fp-1", started, "")
			},
			stale: true, reason: "not about that version", qa: "1.2.0"},
		{name: "an alert that began within the clock skew of the version's arrival",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				started := w.tick()
				w.promote("qa", "1.2.0") // a minute later: the clocks may disagree by that much
				return alert("fp-1", started, "")
			},
			qa: "1.1.0", rejected: []string{"1.2.0"}},
		{name: "an alert on the mirror rolls back the environment it mirrors, with it",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0") // dr with it
				req := alert("fp-1", time.Time{}, "")
				req.Env = "dr"
				return req
			},
			reason: "firing for checkout in dr", qa: "1.0.0", rejected: []string{"1.1.0"}},
		{name: "an alert on the mirror after its target moved on",
			run: func(w *world) Request {
				w.promote("qa", "1.1.0")
				w.set(w.person, map[string]string{"qa": "1.2.0"}, nil) // dr still 1.1.0: it follows on the next pass
				req := alert("fp-1", time.Time{}, "")
				req.Env = "dr"
				return req
			},
			stale: true, reason: "is about checkout 1.1.0, but qa now runs 1.2.0", qa: "1.2.0", dr: "1.1.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			req := tc.run(w)
			before, _, rejectedBefore := w.at()
			res := w.rollback(req)
			head, versions, rejected := w.at()
			if res.Stale != tc.stale {
				t.Fatalf("stale = %v, want %v: %s", res.Stale, tc.stale, res.Reason)
			}
			if !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", res.Reason, tc.reason)
			}
			if tc.stale {
				if res.Commit != "" || head != before || !slices.Equal(rejected, rejectedBefore) {
					t.Fatalf("a stale request changed the fleet: commit %q, head moved %v, rejected %v -> %v", res.Commit, head != before, rejectedBefore, rejected)
				}
			} else if res.Commit != head {
				t.Fatalf("result commit %q, remote head %s", res.Commit, head)
			}
			dr := cmp.Or(tc.dr, tc.qa)
			if versions["qa"] != tc.qa || versions["dr"] != dr {
				t.Errorf("qa runs %s and its mirror dr %s, want %s and %s", versions["qa"], versions["dr"], tc.qa, dr)
			}
			if !slices.Equal(rejected, tc.rejected) {
				t.Errorf("rejected %v, want %v", rejected, tc.rejected)
			}
		})
	}
}

func (w *world) head() string {
	w.t.Helper()
	return w.remote.Head("refs/heads/main")
}

// TestRollbackRacesAPerson: a person's commit lands while the rollback is
// being pushed. On the new head the rollback is planned again: when the
// person changed qa's version it is not about that version and is refused;
// when they changed something else it lands on top of their commit.
func TestRollbackRacesAPerson(t *testing.T) {
	for _, tc := range []struct {
		name     string
		theirs   map[string]string
		stale    bool
		qa       string
		rejected []string
		history  []string // subjects, newest first, down to the seed's
	}{
		{"the person changes qa's version", map[string]string{"qa": "1.3.0"}, true, "1.3.0", nil,
			[]string{"a person's change", "promote checkout 1.2.0 to qa", "promote checkout 1.1.0 to qa", "seed"}},
		{"the person changes another environment", map[string]string{"dev": "1.3.0"}, false, "1.1.0", []string{"1.2.0"},
			[]string{"rollback checkout in qa to 1.1.0", "a person's change", "promote checkout 1.2.0 to qa", "promote checkout 1.1.0 to qa", "seed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.promote("qa", "1.1.0")
			w.promote("qa", "1.2.0")
			var fired atomic.Bool
			var theirs string
			w.remote.SetBeforePush(func() {
				if fired.CompareAndSwap(false, true) {
					theirs = w.set(w.person, tc.theirs, nil)
				}
			})
			// No version label: the alert is about what runs when it is first planned, 1.2.0.
			res := w.rollback(alert("fp-1", time.Time{}, ""))
			w.remote.SetBeforePush(nil)
			if !fired.Load() {
				t.Fatal("the person's commit did not race the rollback")
			}
			head, versions, rejected := w.at()
			if res.Stale != tc.stale {
				t.Fatalf("stale = %v, want %v: %s", res.Stale, tc.stale, res.Reason)
			}
			if tc.stale && (head != theirs || res.Commit != "") {
				t.Fatalf("the refused rollback committed %q; head %s, the person's %s", res.Commit, head, theirs)
			}
			if versions["qa"] != tc.qa || !slices.Equal(rejected, tc.rejected) {
				t.Fatalf("qa runs %s, rejected %v; want %s, %v (%s)", versions["qa"], rejected, tc.qa, tc.rejected, res.Reason)
			}
			var subjects []string
			snap, err := w.ferry.Fetch(w.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.ferry.Log(w.ctx, snap, func(c fleet.Commit) (bool, error) {
				subjects = append(subjects, strings.SplitN(c.Message, "\n", 2)[0])
				return true, nil
			}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(subjects, tc.history) {
				t.Fatalf("history %q, want %q", subjects, tc.history)
			}
		})
	}
}

// TestFreezeName (H10): the freeze an alert holds has a valid name
// whatever the sender's fingerprint; "fpM1" made an invalid one and the
// rollback with it was given up.
func TestFreezeName(t *testing.T) {
	for _, fp := range []string{"fcc72856677bf695", "fpM1", "a b", strings.Repeat("f", 100), ""} {
		name := freezeName(fp)
		if !dnslabel.Valid(name) {
			t.Errorf("freezeName(%q) = %q, not a DNS label", fp, name)
		}
		if fp == "fcc72856677bf695" && name != "alert-fcc72856677bf695" {
			t.Errorf("an Alertmanager fingerprint is kept: %q", name)
		}
	}
	if freezeName("fpM1") == freezeName("fpM2") {
		t.Error("two fingerprints share a freeze name")
	}
}
