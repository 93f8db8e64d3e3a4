package agent

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/overlays"
)

const canaryPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, canary: CANARY}
providers:
  prometheus: {address: http://127.0.0.1:9}
analyses:
  canary:
    metrics:
      - {name: errors, query: 'sum(rate(errors_total{version="{{.Canary}}"}[1m]))', successCondition: result == 0}
`

var canaryOverlay = map[string]string{
	"overlays/prod/kustomization.yaml": `resources:
- ../../base
- checkout-canary.yaml
- checkout-route.yaml
images:
- name: registry.example/shop/checkout
  newName: REGISTRY/shop/checkout
  newTag: 0.0.0
- name: registry.example/shop/checkout-canary
  newName: REGISTRY/shop/checkout
  newTag: 0.0.0
`,
	"overlays/prod/checkout-canary.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-canary
spec:
  template:
    spec:
      containers:
      - name: checkout
        image: registry.example/shop/checkout-canary:0.0.0
`,
	"overlays/prod/checkout-route.yaml": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: checkout
spec:
  parentRefs:
  - name: shop
  rules:
  - backendRefs:
    - name: checkout
      port: 80
      weight: 100
    - name: checkout-canary
      port: 80
      weight: 0
`,
}

func newCanaryFleet(t *testing.T, canary string) *testFleet {
	t.Helper()
	return newFleet(t, fleetSetup{pipeline: strings.ReplaceAll(canaryPipeline, "CANARY", canary), files: canaryOverlay})
}

// drive runs passes, answering every owed analysis with verdict(step), until
// a pass neither commits nor owes anything. It returns the subjects ferry
// wrote, oldest first.
func (f *testFleet) drive(t *testing.T, verdict func(Verification) analysis.Verdict) []string {
	t.Helper()
	ctx := context.Background()
	before := f.git(t, "rev-parse", "main")
	for range 20 {
		res, err := f.agent.Reconcile(ctx, Scope{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Verifications {
			vd := verdict(v)
			if _, err := f.agent.Record(ctx, v, analysis.Result{Template: v.Template, Verdict: vd, Reason: "test verdict " + string(vd)}); err != nil {
				t.Fatal(err)
			}
		}
		if len(res.Promotions) == 0 && len(res.Verifications) == 0 {
			out := f.git(t, "log", "--reverse", "--format=%s", before+"..main")
			return strings.Split(out, "\n")
		}
	}
	t.Fatal("the delivery did not settle in 20 passes")
	return nil
}

func TestProgressiveStrategies(t *testing.T) {
	for _, tc := range []struct {
		name, canary string
		want         []string
		during       string // a route line present while the canary is analysed
	}{
		{"canary", "{steps: [5, 50, 100], analysis: canary}", []string{
			"canary checkout 1.0.0 in prod: step 0/3, deploy the canary",
			"canary checkout 1.0.0 in prod: step 1/3, send 5% of traffic to the canary",
			"canary checkout 1.0.0 in prod: step 2/3, send 50% of traffic to the canary",
			"canary checkout 1.0.0 in prod: step 3/3, send 100% of traffic to the canary",
			"promote checkout 1.0.0 to prod",
		}, "weight: 5"},
		{"blue-green", "{strategy: blueGreen, analysis: canary}", []string{
			"canary checkout 1.0.0 in prod: step 0/1, deploy the idle colour and analyse it",
			"canary checkout 1.0.0 in prod: step 1/1, switch all traffic to the new colour",
			"promote checkout 1.0.0 to prod",
		}, "weight: 0"},
		{"a/b", `{strategy: abTest, analysis: canary, header: {name: x-ferry-canary, value: "true"}}`, []string{
			"canary checkout 1.0.0 in prod: step 0/1, deploy the canary",
			"canary checkout 1.0.0 in prod: step 1/1, route requests with x-ferry-canary: true to the canary",
			"promote checkout 1.0.0 to prod",
		}, "x-ferry-canary"},
		{"shadow", "{strategy: shadow, analysis: canary}", []string{
			"canary checkout 1.0.0 in prod: step 0/1, deploy the canary",
			"canary checkout 1.0.0 in prod: step 1/1, mirror traffic to the canary",
			"promote checkout 1.0.0 to prod",
		}, "RequestMirror"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCanaryFleet(t, tc.canary)
			var events eventLog
			f.agent.SetNotifier(&events)
			f.push(t, "shop/checkout", "1.0.0")
			seen := false
			got := f.drive(t, func(v Verification) analysis.Verdict {
				if v.Template != "" && strings.Contains(f.git(t, "show", "main:overlays/prod/checkout-route.yaml"), tc.during) {
					seen = true
				}
				return analysis.Successful
			})
			// dev's promotion comes first.
			if len(got) == 0 || got[0] != "promote checkout 1.0.0 to dev" {
				t.Fatalf("history: %q", got)
			}
			if strings.Join(got[1:], "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("commits:\n%s\nwant:\n%s", strings.Join(got[1:], "\n"), strings.Join(tc.want, "\n"))
			}
			if !seen {
				t.Errorf("no analysis ran while the route had %q", tc.during)
			}
			// The last move, not a step, is prod's promotion: notified once.
			if n := events.count(notify.Promotion, "prod"); n != 1 {
				t.Errorf("%d promotion notifications for prod, want 1 (the delivery's last move)", n)
			}
			k := f.git(t, "show", "main:overlays/prod/kustomization.yaml")
			if strings.Count(k, "newTag: 1.0.0") != 2 {
				t.Errorf("stable and canary should both run 1.0.0 at the end:\n%s", k)
			}
			route := f.git(t, "show", "main:overlays/prod/checkout-route.yaml")
			if st, err := overlays.ReadRoute([]byte(route), overlays.RouteSpec{Name: "checkout", Stable: "checkout", Canary: "checkout-canary"}); err != nil || st != (overlays.RouteState{StableWeight: 100}) {
				t.Errorf("route after the delivery = %+v, %v; want all traffic on stable:\n%s", st, err, route)
			}

			// The next version fails its first analysed step: weight 0, rejected, stable untouched.
			f.push(t, "shop/checkout", "1.1.0")
			got = f.drive(t, func(Verification) analysis.Verdict { return analysis.Failed })
			if last := got[len(got)-1]; last != "abort canary of checkout 1.1.0 in prod" {
				t.Fatalf("after a failed step: %q", got)
			}
			k = f.git(t, "show", "main:overlays/prod/kustomization.yaml")
			if strings.Contains(k, "1.1.0") {
				t.Errorf("an aborted canary must leave no trace in the overlay:\n%s", k)
			}
			if rej := f.git(t, "show", "main:.ferry/rejected.yaml"); !strings.Contains(rej, "1.1.0") {
				t.Errorf("1.1.0 not rejected:\n%s", rej)
			}
			msg := f.git(t, "log", "-1", "--format=%B", "main")
			for _, want := range []string{"Ferry-Rejects: 1.1.0", "Ferry-Weight: 0", "Ferry-Reason: analysis canary failed"} {
				if !strings.Contains(msg, want) {
					t.Errorf("abort commit lacks %q:\n%s", want, msg)
				}
			}
		})
	}
}

// TestInconclusiveStepHolds: an inconclusive step neither advances nor aborts.
func TestInconclusiveStepHolds(t *testing.T) {
	f := newCanaryFleet(t, "{steps: [10, 100], analysis: canary}")
	f.push(t, "shop/checkout", "1.0.0")
	got := f.drive(t, func(Verification) analysis.Verdict { return analysis.Inconclusive })
	if last := got[len(got)-1]; last != "canary checkout 1.0.0 in prod: step 1/2, send 10% of traffic to the canary" {
		t.Fatalf("history: %q", got)
	}
	plan, err := f.agent.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Steps {
		if s.Env == "prod" && (s.Action != ActionHold || !strings.Contains(s.Reason, "held")) {
			t.Errorf("prod step = %s: %s; want held", s.Action, s.Reason)
		}
	}
}

// TestAlertDuringCanaryAbortsIt: an alert for an env with a delivery in
// progress rejects the canary's version and leaves the stable one, once.
func TestAlertDuringCanaryAbortsIt(t *testing.T) {
	f := newCanaryFleet(t, "{steps: [10, 100], analysis: canary}")
	f.push(t, "shop/checkout", "1.0.0")
	f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
	f.push(t, "shop/checkout", "1.1.0")
	f.drive(t, func(Verification) analysis.Verdict { return analysis.Inconclusive }) // held at step 1
	ctx := context.Background()
	alert := Alert{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "abc123"}
	res, err := f.agent.RollbackAlert(ctx, alert)
	if err != nil {
		t.Fatal(err)
	}
	if res.From.Tag != "1.1.0" || res.To.Tag != "1.0.0" || res.Commit == "" {
		t.Fatalf("rollback during the canary: %+v", res)
	}
	if got := f.git(t, "log", "-1", "--format=%s", "main"); got != "abort canary of checkout 1.1.0 in prod" {
		t.Fatalf("subject %q", got)
	}
	k := f.git(t, "show", "main:overlays/prod/kustomization.yaml")
	if strings.Contains(k, "1.1.0") || strings.Count(k, "newTag: 1.0.0") != 2 {
		t.Errorf("stable must stay on 1.0.0 and the canary go back to it:\n%s", k)
	}
	// The same alert again changes nothing.
	res, err = f.agent.RollbackAlert(ctx, alert)
	if err != nil || res.Commit != "" {
		t.Fatalf("the alert again: %+v, %v", res, err)
	}
}

// eventLog is a Notifier that keeps what it hears; count counts the
// events of a kind for env that name a version and a commit.
type eventLog struct {
	mu     sync.Mutex
	events []notify.Event
}

func (l *eventLog) Notify(ev notify.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) count(kind notify.Kind, env string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.events {
		if ev.Kind == kind && ev.Env == env && ev.Version != "" && ev.Commit != "" {
			n++
		}
	}
	return n
}

// edit commits a person's change of files (each fn gets the current
// content) to the fleet repo over file://, with the git history ferry reads.
func (f *testFleet) edit(t *testing.T, msg string, files map[string]func(string) string) {
	t.Helper()
	ctx := context.Background()
	r, err := fleet.Open(ctx, fleet.Options{URL: "file://" + f.bare, Branch: "main", Dir: filepath.Join(t.TempDir(), "person"),
		Author: fleet.Signature{Name: "person", Email: "person@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for p, fn := range files {
		old, _ := head.ReadFile(p)
		out[p] = []byte(fn(string(old)))
	}
	c, err := r.Commit(head, out, msg+"\n", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, c); err != nil {
		t.Fatal(err)
	}
}

// setEntry sets one images entry's newTag (and drops its digest).
func setEntry(name, tag string) func(string) string {
	return func(k string) string {
		out, _, err := overlays.SetImage([]byte(k), overlays.Image{Name: name, NewTag: tag})
		if err != nil {
			panic(err)
		}
		return string(out)
	}
}

// TestOnlyFerrysDeliveriesContinue (H8): a canary entry at another version
// than stable is a delivery only when ferry's step 0 put it there and
// nothing ended it since. Read from the overlay alone, a person's revert of
// ferry's promotion (stable back, the canary entry still on the new
// version) was "resumed" and the version promoted again, and an entry
// left at an old tag was delivered, downgrading prod, past a deny-all
// policy.
func TestOnlyFerrysDeliveriesContinue(t *testing.T) {
	const prodKust = "overlays/prod/kustomization.yaml"
	t.Run("a person puts stable back after a delivery", func(t *testing.T) {
		f := newCanaryFleet(t, "{steps: [50, 100], analysis: canary}")
		f.push(t, "shop/checkout", "1.0.0")
		f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
		f.push(t, "shop/checkout", "1.1.0")
		f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
		f.edit(t, "incident: prod back to 1.0.0", map[string]func(string) string{prodKust: setEntry("registry.example/shop/checkout", "1.0.0")})
		if got := f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful }); len(got) != 1 || got[0] != "" {
			t.Fatalf("after the person's rollback ferry committed %q", got)
		}
		if k := f.git(t, "show", "main:"+prodKust); !strings.Contains(k, "newTag: 1.0.0") {
			t.Fatalf("the person's stable 1.0.0 was overwritten:\n%s", k)
		}
	})
	t.Run("an entry left at an old tag behind a deny-all policy", func(t *testing.T) {
		f := newFleet(t, fleetSetup{pipeline: strings.ReplaceAll(canaryPipeline, "CANARY", "{steps: [50, 100], analysis: canary}"),
			files: mergeFiles(canaryOverlay, map[string]string{"policies/gate.rego": "package ferry.promotion\n\ndeny contains \"prod is closed\" if input.environment.name == \"prod\"\n"})})
		f.push(t, "shop/checkout", "1.0.0")
		f.push(t, "shop/checkout", "1.1.0")
		f.edit(t, "prod by hand", map[string]func(string) string{prodKust: func(k string) string {
			return setEntry("registry.example/shop/checkout-canary", "1.0.0")(setEntry("registry.example/shop/checkout", "1.1.0")(k))
		}})
		before := f.git(t, "show", "main:"+prodKust)
		f.drive(t, func(Verification) analysis.Verdict { return analysis.Successful })
		if after := f.git(t, "show", "main:"+prodKust); after != before {
			t.Fatalf("prod changed past a deny-all policy:\n%s\nwas:\n%s", after, before)
		}
	})
}

func mergeFiles(sets ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range sets {
		maps.Copy(out, m)
	}
	return out
}
