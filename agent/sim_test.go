package agent

// The deterministic simulation of the loop (issue 17): the real agent
// (ledger, gate with OPA policies, overlay editor, publish path, canary,
// verify and rollback steps) against an in-memory git remote, on a fake
// clock, driven by a seeded random schedule of events: registry pushes of
// good and bad versions, verdicts that arrive late or out of order, alerts
// that fire (twice) and resolve, people's commits racing ferry's pushes,
// refused pushes, crashes (the agent restarted from Git alone) and policy
// changes. After each schedule an invariant checker reads only the fleet
// repo (history, notes) and the alerts that fired. A failure prints the
// seed and the events; `go test -run 'TestSim$' ./agent/ -seed N` replays it.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/overlays"
)

var (
	simSeed   = flag.Uint64("seed", 0, "TestSim: replay this schedule only")
	simBudget = flag.Duration("sim.budget", 0, "TestSim: run schedules for this long (default 60s, 10s under the race detector)")
	simMin    = flag.Int("sim.min", 0, "TestSim: run at least this many schedules, whatever the budget")
	simSeeds  = flag.Int("sim.seeds", 0, "TestSim: run exactly this many schedules (make sim SEEDS=N)")
)

const simPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///sim/fleet.git", author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: a1, image: reg.sim/shop/a1, tags: {semver: ">=1.0.0"}}
  - {name: a2, image: reg.sim/shop/a2, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true, analysis: smoke}
  - {name: prod, overlay: overlays/prod, from: qa,  auto: true, canary: {steps: [50, 100], analysis: smoke}}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  smoke:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{app="{{.App}}",version="{{.Version}}"}[1m]))', successCondition: result == 0}
`

var simApps = []string{"a1", "a2"}

// simFleet is the fleet repo at the start: placeholders everywhere, a
// canary entry and a route per app in prod, and a policy bundle.
func simFleet() map[string][]byte {
	files := map[string][]byte{}
	for _, env := range []string{"dev", "qa", "prod", "dr"} {
		var b strings.Builder
		b.WriteString("images:\n")
		for _, app := range simApps {
			fmt.Fprintf(&b, "- name: reg.sim/shop/%s\n  newTag: 0.0.0\n", app)
			if env == "prod" {
				fmt.Fprintf(&b, "- name: reg.sim/shop/%s-canary\n  newTag: 0.0.0\n", app)
			}
		}
		files["overlays/"+env+"/kustomization.yaml"] = []byte(b.String())
	}
	for _, app := range simApps {
		files["overlays/prod/"+app+"-route.yaml"] = []byte(fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: %[1]s
spec:
  rules:
  - backendRefs:
    - name: %[1]s
      weight: 100
    - name: %[1]s-canary
      weight: 0
`, app))
	}
	files["policies/common.rego"] = []byte(`package ferry.promotion

deny contains msg if {
	some v in input.evidence.rejected
	v == input.candidate.version
	msg := sprintf("%s is rejected", [v])
}
`)
	return files
}

// simRender checks that an edited overlay still reads, as the real render
// would fail on a broken one, without kustomize's cost.
func simRender(fsys fs.FS, dir string) ([]byte, error) {
	data, err := fs.ReadFile(fsys, path.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	_, err = overlays.ReadImages(data)
	return nil, err
}

// simRegistry is the registry: tags pushed by the schedule.
type simRegistry struct {
	mu   sync.Mutex
	tags map[string][]string // by image
}

func (r *simRegistry) Tags(_ context.Context, repo string, _ bool) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tags[repo]), nil
}

func (r *simRegistry) Resolve(_ context.Context, repo, tag string, _ bool) (registry.Descriptor, error) {
	return registry.Descriptor{Digest: simDigest(repo, tag)}, nil
}

func simDigest(repo, tag string) string {
	h := uint64(14695981039346656037)
	for _, c := range repo + ":" + tag {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return fmt.Sprintf("sha256:%016x%016x%016x%016x", h, h*31, h*131, h*1031)
}

// simAlert is an alert the schedule fired: the version it was about.
type simAlert struct {
	app, env, fingerprint string
	version               string
	labeled               bool // the alert carried a version label
	started               time.Time
}

// world is one schedule's universe.
type world struct {
	seed    uint64
	rng     *rand.Rand
	now     time.Time
	cfg     *config.Pipeline
	root    string
	remote  *fleet.MemoryRemote
	agent   *Agent
	person  *fleet.Repo
	reg     *simRegistry
	engines *gate.Engines
	bad     map[string]bool // app/tag -> a bad version
	next    map[string]int  // app -> next minor version
	alerts  []simAlert
	pending []Verification
	queued  []Alert // rollbacks asked for, not carried out yet (late)
	refuse  int     // pushes still to refuse
	events  []string
	errs    []string
	blocked string // version the policy denies in prod, "" none
	ctx     context.Context
	commits int // checked
}

func newWorld(t testing.TB, seed uint64, engines *gate.Engines) *world {
	cfg, err := config.Parse("ferry.yaml", []byte(simPipeline))
	if err != nil {
		t.Fatal(err)
	}
	w := &world{seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), cfg: cfg,
		root: t.TempDir(), reg: &simRegistry{tags: map[string][]string{}}, engines: engines, bad: map[string]bool{}, next: map[string]int{},
		ctx: context.Background()}
	w.remote = fleettest.Remote(t, fmt.Sprintf("sim-%d", seed))
	w.remote.SetRefuse(func(string) error {
		if w.refuse > 0 {
			w.refuse--
			return errors.New("the fleet repo is read-only for maintenance")
		}
		return nil
	})
	w.person = w.open(t, "person")
	fleettest.Push(t, w.person, simFleet(), "seed the fleet\n", w.now)
	w.start(t)
	return w
}

func (w *world) open(t testing.TB, author string) *fleet.Repo {
	return fleettest.Clone(t, w.remote, author)
}

// start (re)starts the agent from Git alone: a new clone object over the
// same directory, new caches, nothing carried over.
func (w *world) start(t testing.TB) {
	repo := w.open(t, "ferry")
	a, err := New(Options{Config: w.cfg, Fleet: repo, Registry: w.reg, Now: func() time.Time { return w.now },
		Analysis: analysis.Providers{"prometheus": nil}, Render: simRender, Engines: w.engines,
		PushBackoff: time.Nanosecond, PushAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	w.agent = a
}

func (w *world) log(format string, args ...any) {
	w.events = append(w.events, fmt.Sprintf("%s +%s ", w.now.Format("15:04:05"), fmt.Sprintf(format, args...)))
}

func (w *world) pick(n int) int { return w.rng.IntN(n) }

// version is what env runs of app at the remote's head (stable entry), and
// the canary entry's.
func (w *world) version(app, env string) (stable, canary string) {
	snap, err := w.person.Fetch(w.ctx)
	if err != nil {
		return "", ""
	}
	data, err := snap.ReadFile("overlays/" + env + "/kustomization.yaml")
	if err != nil {
		return "", ""
	}
	images, _ := overlays.ReadImages(data)
	for _, im := range images {
		switch im.Name {
		case "reg.sim/shop/" + app:
			stable = im.NewTag
		case "reg.sim/shop/" + app + "-canary":
			canary = im.NewTag
		}
	}
	return stable, canary
}

// step runs one random event.
func (w *world) step(t testing.TB) {
	switch r := w.pick(100); {
	case r < 14:
		app := simApps[w.pick(len(simApps))]
		w.next[app]++
		tag := fmt.Sprintf("1.%d.0", w.next[app])
		bad := w.pick(3) == 0
		w.bad[app+"/"+tag] = bad
		w.reg.mu.Lock()
		w.reg.tags["reg.sim/shop/"+app] = append(w.reg.tags["reg.sim/shop/"+app], tag)
		w.reg.mu.Unlock()
		w.log("push %s %s (bad=%v)", app, tag, bad)
	case r < 40:
		w.pass()
	case r < 58:
		w.verdict(false)
	case r < 62:
		w.lateRollback()
	case r < 70:
		w.alert()
	case r < 73:
		w.resolve()
	case r < 78:
		w.personCommit(t)
	case r < 82:
		w.raceNextPush(t)
	case r < 85:
		w.refuse = 1 + w.pick(3)
		w.log("refuse the next %d pushes", w.refuse)
	case r < 89:
		w.log("crash and restart")
		w.pending, w.queued = nil, nil // in-flight work dies with the process
		w.start(t)
	case r < 92:
		w.policyChange(t)
	default:
		d := time.Duration(1+w.pick(600)) * time.Second
		w.now = w.now.Add(d)
		w.log("time passes (%s)", d)
	}
}

func (w *world) pass() {
	res, err := w.agent.Reconcile(w.ctx, Scope{All: true, Wait: true, Reason: "sim"})
	if err != nil {
		w.log("pass: %v", err)
		return
	}
	var did []string
	for _, p := range res.Promotions {
		did = append(did, p.Env+"="+p.Candidate.Tag)
	}
	for _, v := range res.Verifications {
		if !slices.ContainsFunc(w.pending, func(p Verification) bool { return p.Key() == v.Key() }) {
			w.pending = append(w.pending, v)
		}
	}
	w.log("pass: pushed %v, owed %d, errors %d", did, len(res.Verifications), len(res.Errors))
}

// verdict answers one owed verification, in any order; truthful answers
// only when quiescing.
func (w *world) verdict(truthful bool) {
	if len(w.pending) == 0 {
		return
	}
	i := w.pick(len(w.pending))
	v := w.pending[i]
	w.pending = slices.Delete(w.pending, i, i+1)
	verdict := analysis.Successful
	switch bad := w.bad[v.App+"/"+v.Version.Tag]; {
	case bad && (truthful || w.pick(10) > 0):
		verdict = analysis.Failed
	case bad:
		verdict = analysis.Inconclusive
	case truthful:
	case w.pick(20) == 0:
		verdict = analysis.Failed // a false alarm: allowed to roll back a good version
	case w.pick(20) == 0:
		verdict = analysis.Inconclusive
	}
	w.log("verdict %s: %s", v, verdict)
	rb, err := w.agent.Record(w.ctx, v, analysis.Result{Template: "smoke", Verdict: verdict, Reason: "sim " + string(verdict)})
	if err != nil {
		w.log("record: %v", err)
		return
	}
	if rb == nil {
		return
	}
	if !truthful && w.pick(2) == 0 {
		w.queued = append(w.queued, *rb)
		w.log("the rollback it asks for is late")
		return
	}
	w.rollback(*rb)
}

func (w *world) rollback(al Alert) {
	res, err := w.agent.RollbackAlert(w.ctx, al)
	switch {
	case err != nil:
		w.log("rollback %s/%s: %v", al.App, al.Env, err)
	case res.Commit != "":
		w.log("rollback %s in %s: %s -> %s", al.App, al.Env, res.From.Tag, res.To.Tag)
	default:
		w.log("rollback %s in %s: nothing (%s)", al.App, al.Env, res.Reason)
	}
}

func (w *world) lateRollback() {
	if len(w.queued) == 0 {
		return
	}
	i := w.pick(len(w.queued))
	al := w.queued[i]
	w.queued = slices.Delete(w.queued, i, i+1)
	w.log("late rollback request")
	w.rollback(al)
}

// alert fires for an env that runs a bad version (rarely, a good one),
// and is sometimes sent twice.
func (w *world) alert() {
	app, env := simApps[w.pick(len(simApps))], []string{"dev", "qa", "prod", "dr"}[w.pick(4)]
	stable, canary := w.version(app, env)
	v := stable
	if canary != "" && canary != stable && canary != "0.0.0" {
		v = canary // the suspect of a delivery in progress
	}
	if v == "" || v == "0.0.0" || (!w.bad[app+"/"+v] && w.pick(10) > 0) {
		return
	}
	al := simAlert{app: app, env: env, version: v, started: w.now, fingerprint: fmt.Sprintf("fp-%s-%s-%d", app, env, len(w.alerts))}
	w.alerts = append(w.alerts, al)
	w.log("alert fires for %s %s in %s", app, v, env)
	alert := Alert{App: app, Env: env, Name: "HighErrorRate", Fingerprint: al.fingerprint, Started: al.started}
	if w.pick(2) == 0 {
		alert.About = &Version{Tag: v} // the alert rule carries a version label
		w.alerts[len(w.alerts)-1].labeled = true
	}
	for range 1 + w.pick(2) {
		w.rollback(alert)
	}
}

func (w *world) resolve() {
	if len(w.alerts) == 0 {
		return
	}
	al := w.alerts[w.pick(len(w.alerts))]
	if _, err := w.agent.Resolve(w.ctx, Alert{App: al.app, Env: al.env, Name: "HighErrorRate", Fingerprint: al.fingerprint, Resolved: true}); err != nil {
		w.log("resolve: %v", err)
	}
}

// personCommit is a person's change: pin an env to an earlier version (by
// tag only, sometimes), or edit an unrelated file.
func (w *world) personCommit(t testing.TB) {
	for attempt := 0; attempt < 5; attempt++ {
		head, err := w.person.Fetch(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{"README.md": []byte(fmt.Sprintf("notes %d\n", w.pick(1<<30)))}
		what := "edit README.md"
		app := simApps[w.pick(len(simApps))]
		if n := w.next[app]; n > 0 && w.pick(2) == 0 {
			env := []string{"dev", "qa"}[w.pick(2)]
			tag := fmt.Sprintf("1.%d.0", 1+w.pick(n))
			p := "overlays/" + env + "/kustomization.yaml"
			data, err := head.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			img := overlays.Image{Name: "reg.sim/shop/" + app, NewTag: tag}
			if w.pick(2) == 0 {
				img.Digest = simDigest("reg.sim/shop/"+app, tag)
			}
			if out, changed, err := overlays.SetImage(data, img); err == nil && changed {
				files = map[string][]byte{p: out}
				what = fmt.Sprintf("pin %s %s in %s (digest %v)", app, tag, env, img.Digest != "")
			}
		}
		next, err := w.person.Commit(head, files, "a person's change: "+what+"\n", w.now)
		if err != nil {
			t.Fatal(err)
		}
		err = w.person.Push(w.ctx, next)
		if err == nil {
			w.log("person: %s", what)
			return
		}
		if !errors.Is(err, fleet.ErrNonFastForward) {
			w.log("person's push refused: %v", err)
			return
		}
	}
}

// raceNextPush makes a person's commit land just before ferry's next push
// is applied: the push finds the branch moved.
func (w *world) raceNextPush(t testing.TB) {
	w.log("a person's commit will race ferry's next push")
	w.remote.SetBeforePush(func() {
		w.remote.SetBeforePush(nil)
		w.personCommit(t)
	})
}

func (w *world) policyChange(t testing.TB) {
	app := simApps[w.pick(len(simApps))]
	files := map[string][]byte{"policies/block.rego": nil}
	w.blocked = ""
	if n := w.next[app]; n > 0 && w.pick(2) == 0 {
		w.blocked = fmt.Sprintf("1.%d.0", 1+w.pick(n))
		files["policies/block.rego"] = []byte(fmt.Sprintf(`package ferry.promotion

deny contains "blocked for prod by the sim" if {
	input.environment.name == "prod"
	input.candidate.version == %q
}
`, w.blocked))
	}
	head, err := w.person.Fetch(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	next, err := w.person.Commit(head, files, "policy change\n", w.now)
	if errors.Is(err, fleet.ErrNoChange) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.person.Push(w.ctx, next); err != nil {
		w.log("policy push: %v", err)
		return
	}
	w.log("policy: prod blocks %q", w.blocked)
}

// quiesce stops the faults and lets everything settle: truthful verdicts,
// late rollbacks carried out, passes until nothing moves.
func (w *world) quiesce() {
	w.refuse = 0
	w.remote.SetBeforePush(nil)
	w.log("quiesce")
	for _, al := range w.queued {
		w.rollback(al)
	}
	w.queued = nil
	for range 40 {
		w.now = w.now.Add(time.Minute)
		heads := func() string { return w.remote.Head("refs/heads/main") + w.remote.Head(ledger.NotesRef) }
		before := heads()
		w.pass()
		for len(w.pending) > 0 {
			w.verdict(true)
		}
		if heads() != before {
			continue
		}
		// Settled. A hold after an inconclusive verdict waits for a
		// person: they ask for the analysis again, as `ferry
		// retry-analysis` does.
		retried := false
		status, err := w.agent.Status(w.ctx)
		if err != nil {
			w.errs = append(w.errs, "status: "+err.Error())
			return
		}
		for _, s := range status {
			if s.Verdict == nil || s.Verdict.Verdict != analysis.Inconclusive {
				continue
			}
			if c, err := w.agent.RetryAnalysis(w.ctx, s.App, s.Env); err == nil && c != "" {
				w.log("retry the analysis of %s in %s", s.App, s.Env)
				retried = true
			}
		}
		if !retried {
			return
		}
	}
	w.errs = append(w.errs, "the fleet did not settle in 40 passes after the faults stopped")
}

func runSchedule(t testing.TB, seed uint64, engines *gate.Engines, script func(*world, testing.TB)) *world {
	w := newWorld(t, seed, engines)
	if script != nil {
		script(w, t)
	} else {
		for range 30 + w.pick(30) {
			w.step(t)
		}
	}
	w.quiesce()
	w.check(t)
	return w
}

func (w *world) report() string {
	return fmt.Sprintf("seed %d (replay: go test -run 'TestSim$' ./agent/ -seed %d)\nviolations:\n  %s\nevents:\n  %s",
		w.seed, w.seed, strings.Join(w.errs, "\n  "), strings.Join(w.events, "\n  "))
}

func TestSim(t *testing.T) {
	engines := gate.NewEngines()
	if *simSeed != 0 {
		w := runSchedule(t, *simSeed, engines, nil)
		if len(w.errs) > 0 {
			t.Fatal(w.report())
		}
		t.Logf("seed %d: %d events, no violation", *simSeed, len(w.events))
		return
	}
	budget := *simBudget
	if budget == 0 {
		budget = 60 * time.Second
		if raceEnabled {
			budget = 10 * time.Second
		}
	}
	start := time.Now()
	var ran, commits atomic.Int64
	var failed atomic.Pointer[string]
	var wg sync.WaitGroup
	base := uint64(time.Now().UnixNano())
	var next atomic.Uint64
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for failed.Load() == nil {
				n := int(ran.Load())
				if *simSeeds > 0 {
					if int(next.Load()) >= *simSeeds {
						return
					}
				} else if time.Since(start) > budget && n >= *simMin {
					return
				}
				seed := base + next.Add(1)
				w := runSchedule(t, seed, engines, nil)
				w.remote.Close() // thousands of schedules: let each one's objects go
				ran.Add(1)
				commits.Add(int64(w.commits))
				if len(w.errs) > 0 {
					r := w.report()
					failed.CompareAndSwap(nil, &r)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("simulation: %d schedules, %d commits checked, in %s", ran.Load(), commits.Load(), time.Since(start).Round(time.Millisecond))
	fmt.Printf("simulation: %d schedules in %s\n", ran.Load(), time.Since(start).Round(time.Millisecond))
	if f := failed.Load(); f != nil {
		t.Fatal(*f)
	}
}

// TestSimStaleVerdict is the story of issue 17 as a fixed schedule: qa ran
// 1.1.0 (bad), its analysis failed and qa was rolled back to 1.0.0, whose
// analysis started while 1.1.0's errors were still in the window; 1.2.0
// (good) reached qa; then 1.0.0's analysis failed. That verdict judged
// 1.0.0 and must change nothing else: 1.2.0 stays, and nothing but 1.1.0
// is rejected.
func TestSimStaleVerdict(t *testing.T) {
	w := runSchedule(t, 17, gate.NewEngines(), func(w *world, t testing.TB) {
		push := func(tag string, bad bool) {
			w.bad["a1/"+tag] = bad
			w.reg.tags["reg.sim/shop/a1"] = append(w.reg.tags["reg.sim/shop/a1"], tag)
			w.log("push a1 %s (bad=%v)", tag, bad)
		}
		answer := func(env, tag string, verdict analysis.Verdict) *Alert {
			for i, v := range w.pending {
				if v.App == "a1" && v.Env == env && v.Version.Tag == tag {
					w.pending = slices.Delete(w.pending, i, i+1)
					rb, err := w.agent.Record(w.ctx, v, analysis.Result{Template: "smoke", Verdict: verdict, Reason: "story"})
					if err != nil {
						t.Fatal(err)
					}
					w.log("verdict %s: %s", v, verdict)
					return rb
				}
			}
			t.Fatalf("no verification owed for a1 %s in %s: %v", tag, env, w.pending)
			return nil
		}
		push("1.0.0", false)
		w.pass()
		answer("qa", "1.0.0", analysis.Successful)
		push("1.1.0", true)
		w.pass()
		rb := answer("qa", "1.1.0", analysis.Failed)
		w.rollback(*rb) // qa back to 1.0.0, 1.1.0 rejected
		w.pass()        // 1.0.0's verification is owed again (on the rollback commit)
		push("1.2.0", false)
		w.pass() // 1.2.0 reaches qa
		if got, _ := w.version("a1", "qa"); got != "1.2.0" {
			t.Fatalf("qa runs %s, want 1.2.0", got)
		}
		// The late verdict on 1.0.0: Failed (the env-wide query still saw 1.1.0's errors).
		if rb := answer("qa", "1.0.0", analysis.Failed); rb != nil {
			res, err := w.agent.RollbackAlert(w.ctx, *rb)
			if err != nil {
				t.Fatal(err)
			}
			if res.Commit != "" || !res.Stale {
				t.Fatalf("a verdict on 1.0.0 acted on 1.2.0: %+v", res)
			}
			w.log("stale rollback refused: %s", res.Reason)
		}
		if got, _ := w.version("a1", "qa"); got != "1.2.0" {
			t.Fatalf("qa runs %s after the stale verdict, want 1.2.0", got)
		}
	})
	if len(w.errs) > 0 {
		t.Fatal(w.report())
	}
	rej := w.rejected()
	if !slices.Equal(rej, []string{"a1/1.1.0"}) {
		t.Fatalf("rejected %v, want only a1/1.1.0\n%s", rej, w.report())
	}
}

// rejected lists app/version of the rejections file at the head.
func (w *world) rejected() []string {
	snap, err := w.person.Fetch(w.ctx)
	if err != nil {
		return nil
	}
	data, _ := snap.ReadFile(gitstate.RejectionsFile)
	rs, err := gitstate.ParseRejections(gitstate.RejectionsFile, data)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rs.Rejected {
		out = append(out, r.App+"/"+r.Version)
	}
	slices.Sort(out)
	return out
}
