package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

func TestRollbackToLastGood(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	f.push(t, "shop/checkout", "1.1.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	f.agent.cfg.Rollback.FreezeUntilResolved = true
	alert := Alert{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "abc123", Summary: "5% errors"}
	res, err := f.agent.RollbackAlert(ctx, alert)
	if err != nil {
		t.Fatal(err)
	}
	if res.From.Tag != "1.1.0" || res.To.Tag != "1.0.0" || res.Commit == "" || strings.Join(res.Mirrors, ",") != "dr" {
		t.Fatalf("rollback: %+v", res)
	}
	if s := f.git(t, "log", "-1", "--format=%s", "main"); s != "rollback checkout in prod to 1.0.0" {
		t.Fatalf("subject %q", s)
	}
	for _, env := range []string{"prod", "dr"} {
		if k := f.git(t, "show", "main:overlays/"+env+"/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
			t.Errorf("%s not rolled back:\n%s", env, k)
		}
	}
	if k := f.git(t, "show", "main:overlays/ppd/kustomization.yaml"); !strings.Contains(k, "newTag: 1.1.0") {
		t.Errorf("ppd was rolled back too:\n%s", k)
	}
	if rej := f.git(t, "show", "main:"+gitstate.RejectionsFile); !strings.Contains(rej, "1.1.0") || !strings.Contains(rej, "HighErrorRate") {
		t.Fatalf("rejection not recorded:\n%s", rej)
	}
	if frz := f.git(t, "show", "main:"+gitstate.FreezesFile); !strings.Contains(frz, "abc123") {
		t.Fatalf("freeze until resolved not recorded:\n%s", frz)
	}

	// The next pass does not bring 1.1.0 back, and says why.
	res2, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil || len(res2.Promotions) != 0 {
		t.Fatalf("after the rollback a pass promoted %+v (%v)", res2.Promotions, err)
	}
	found := false
	for _, s := range res2.Plan.Steps {
		if s.Env == "prod" && strings.Contains(s.Reason, "rejected") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no step says 1.1.0 is rejected: %+v", res2.Plan.Steps)
	}

	// The same alert again changes nothing; its resolution lifts the freeze.
	again, err := f.agent.RollbackAlert(ctx, alert)
	if err != nil || again.Commit != "" {
		t.Fatalf("a repeated alert committed: %+v %v", again, err)
	}
	alert.Resolved = true
	commit, err := f.agent.Resolve(ctx, alert)
	if err != nil || commit == "" {
		t.Fatalf("resolve: %q %v", commit, err)
	}
	if frz := f.git(t, "show", "main:"+gitstate.FreezesFile); strings.Contains(frz, "abc123") {
		t.Fatalf("the freeze outlived its alert:\n%s", frz)
	}
}

func TestRollbackWithoutEarlierVersion(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	before := f.git(t, "show", "main:overlays/prod/kustomization.yaml")
	var logs bytes.Buffer
	f.agent.obs.Log = slog.New(slog.NewTextHandler(&logs, nil))
	res, err := f.agent.RollbackAlert(ctx, Alert{App: "checkout", Env: "prod", Name: "HighErrorRate"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.To.IsZero() || res.Commit != "" || !strings.Contains(res.Reason, "no earlier good version") {
		t.Fatalf("rollback: %+v", res)
	}
	// Without a notifier the log is where a person learns they must act.
	if l := logs.String(); !strings.Contains(l, "level=WARN msg=\"nothing rolled back\"") || !strings.Contains(l, "no earlier good version") {
		t.Fatalf("the log does not say nothing was rolled back, and why:\n%s", l)
	}
	if after := f.git(t, "show", "main:overlays/prod/kustomization.yaml"); after != before {
		t.Fatal("the overlay changed without a version to go back to")
	}
	if s := f.git(t, "log", "-1", "--format=%s", "main"); !strings.HasPrefix(s, "promote ") {
		t.Fatalf("a rollback without a target committed %q", s)
	}
}

func TestRollbackUnknownApp(t *testing.T) {
	f := newTestFleet(t)
	if _, err := f.agent.RollbackAlert(context.Background(), Alert{App: "nope", Env: "prod", Name: "X"}); err == nil {
		t.Fatal("an alert for an unknown app was accepted")
	}
}

func TestUnrejectLetsTheVersionMoveAgain(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	f.agent.Reconcile(ctx, Scope{All: true})
	f.push(t, "shop/checkout", "1.1.0")
	f.agent.Reconcile(ctx, Scope{All: true})
	if _, err := f.agent.RollbackAlert(ctx, Alert{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f1"}); err != nil {
		t.Fatal(err)
	}
	commit, err := f.agent.EditFile(ctx, gitstate.RejectionsFile, func(data []byte) ([]byte, bool, error) {
		return gitstate.RemoveRejection(data, "checkout", "1.1.0")
	}, &ledger.Unreject{App: "checkout", Version: "1.1.0"})
	if err != nil || commit == "" {
		t.Fatalf("unreject: %q %v", commit, err)
	}
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var moved []string
	for _, p := range res.Promotions {
		moved = append(moved, p.Env+"="+p.Candidate.Tag)
	}
	if strings.Join(moved, " ") != "prod=1.1.0 dr=1.1.0" {
		t.Fatalf("after unreject: %v", moved)
	}
}

// TestRollbackSurvivesARefusedPush: the git server refuses the first pushes
// of the rollback; the loop retries until it lands, and it lands once.
func TestRollbackSurvivesARefusedPush(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var refuse atomic.Int32
	f := newTestFleetOver(t, gitserver.WithHook(func(r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && refuse.Load() > 0 {
			refuse.Add(-1)
			return false // 503
		}
		return true
	}))
	f.push(t, "shop/checkout", "1.0.0")
	f.agent.Reconcile(ctx, Scope{All: true})
	f.push(t, "shop/checkout", "1.1.0")
	f.agent.Reconcile(ctx, Scope{All: true})
	loop := NewLoop(f.agent, time.Hour)
	done := make(chan *RollbackResult, 8)
	loop.OnRollback = func(_ Alert, r *RollbackResult, err error) {
		if err == nil {
			done <- r
		}
	}
	go loop.Run(ctx)
	refuse.Store(2)
	loop.OnAlerts(ctx, []Alert{{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f9"}})
	select {
	case r := <-done:
		if r.Commit == "" || r.To.Tag != "1.0.0" {
			t.Fatalf("rollback: %+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the rollback was lost after refused pushes")
	}
	if n := strings.Count(f.git(t, "log", "--format=%s", "main"), "rollback checkout in prod"); n != 1 {
		t.Fatalf("%d rollback commits, want 1", n)
	}
}

// rollbackEvent is one attempt the loop reported.
type rollbackEvent struct {
	res *RollbackResult
	err error
}

// refusingFleet is a fleet whose pushes the git server refuses (503)
// while refuse is above zero, each refusal counting it down, with
// checkout 1.1.0 in prod to roll back.
func refusingFleet(t *testing.T, refuse *atomic.Int32) *testFleet {
	t.Helper()
	f := newTestFleetOver(t, gitserver.WithHook(func(r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && refuse.Load() > 0 {
			refuse.Add(-1)
			return false // 503
		}
		return true
	}))
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.push(t, "shop/checkout", v)
		if _, err := f.agent.Reconcile(context.Background(), Scope{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// TestRollbackRetriedUntilItLands (H8): a fleet repo that refuses pushes
// for longer than a few seconds. The retries were meant to go on for
// minutes, but wait.Backoff's Cap ended them at the ceiling (7 tries in
// 4 s) and the alert was lost, its resend deduplicated. Now they go on
// at the ceiling until the rollback lands: here after 20 refusals.
func TestRollbackRetriedUntilItLands(t *testing.T) {
	var refuse atomic.Int32
	f := refusingFleet(t, &refuse)
	clk := clocktesting.NewFakeClock(time.Now())
	loop := NewLoopWithClock(f.agent, time.Hour, clk)
	events := make(chan rollbackEvent, 64)
	loop.OnRollback = func(_ Alert, r *RollbackResult, err error) { events <- rollbackEvent{r, err} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go loop.RunAlerts(ctx)
	refuse.Store(20)
	loop.OnAlerts(ctx, []Alert{{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f9"}})
	for attempt := 1; ; attempt++ {
		var ev rollbackEvent
		select {
		case ev = <-events:
		case <-time.After(30 * time.Second): // a bound for a slow machine, not a speed check
			t.Fatalf("attempt %d never came: the rollback was given up", attempt)
		}
		if ev.err == nil {
			if attempt != 21 || ev.res.Commit == "" || ev.res.To.Tag != "1.0.0" {
				t.Fatalf("attempt %d: %+v; want the rollback to 1.0.0 committed at attempt 21", attempt, ev.res)
			}
			break
		}
		// The retry is due at most the ceiling (plus jitter) later.
		clk.Step(rollbackRetryCeiling + rollbackRetryCeiling/10)
	}
	if n := strings.Count(f.git(t, "log", "--format=%s", "main"), "rollback checkout in prod"); n != 1 {
		t.Fatalf("%d rollback commits, want 1", n)
	}
}

// TestStoppedLoopForgetsPendingAlerts: a loop that stops (shutdown, a new
// ferry.yaml) with a rollback still to retry hands the alert to Forget,
// so the webhook's deduplication takes Alertmanager's resend.
func TestStoppedLoopForgetsPendingAlerts(t *testing.T) {
	var refuse atomic.Int32
	f := refusingFleet(t, &refuse)
	clk := clocktesting.NewFakeClock(time.Now())
	loop := NewLoopWithClock(f.agent, time.Hour, clk)
	failed := make(chan struct{}, 1)
	loop.OnRollback = func(_ Alert, _ *RollbackResult, err error) {
		if err != nil {
			select {
			case failed <- struct{}{}:
			default:
			}
		}
	}
	forgotten := make(chan Alert, 4)
	loop.Forget = func(al Alert) { forgotten <- al }
	var logs syncbuf.Buffer
	f.agent.obs.Log = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go loop.RunAlerts(ctx)
	refuse.Store(1 << 20)
	loop.OnAlerts(ctx, []Alert{{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f9"}})
	select {
	case <-failed:
	case <-time.After(30 * time.Second):
		t.Fatal("the first attempt never failed")
	}
	cancel()
	select {
	case al := <-forgotten:
		if al.Fingerprint != "f9" {
			t.Fatalf("forgot %+v, want alert f9", al)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the stopped loop kept its pending alert: Alertmanager's resend would be swallowed")
	}
	// And it says so (H11: a page went unhandled without a trace).
	if l := logs.String(); !strings.Contains(l, "stopping with a rollback not done") || !strings.Contains(l, "alert=HighErrorRate") {
		t.Fatalf("the log does not say the rollback was not done:\n%s", l)
	}
}

// TestRepushedRejectedTagStaysRejected (H10): a rejected tag pushed again
// with other content is still rejected; it went through every environment
// in one pass because the rejection named the old digest.
func TestRepushedRejectedTagStaysRejected(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.push(t, "shop/checkout", v)
		if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := f.agent.RollbackAlert(ctx, Alert{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f1"}); err != nil || res.Commit == "" {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	f.push(t, "shop/checkout", "1.1.0") // another build under the same tag
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Promotions) != 0 {
		t.Fatalf("the re-pushed rejected tag was promoted: %+v", res.Promotions)
	}
	for _, env := range []string{"prod", "dr"} {
		if k := f.git(t, "show", "main:overlays/"+env+"/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
			t.Errorf("%s does not run 1.0.0:\n%s", env, k)
		}
	}
}

// TestAlertOnAnotherEnvRunningARejectedVersion (H10): prod's alert
// rejects 1.1.0 and rolls prod back; qa still runs 1.1.0, and an alert
// there rolls qa back too (it said "already rejected and rolled back" and
// left qa running it).
func TestAlertOnAnotherEnvRunningARejectedVersion(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.push(t, "shop/checkout", v)
		if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	for _, env := range []string{"prod", "qa"} {
		res, err := f.agent.RollbackAlert(ctx, Alert{App: "checkout", Env: env, Name: "HighErrorRate", Fingerprint: "f-" + env})
		if err != nil || res.Commit == "" || res.To.Tag != "1.0.0" {
			t.Fatalf("alert in %s: %+v %v; want a rollback to 1.0.0", env, res, err)
		}
	}
	if k := f.git(t, "show", "main:overlays/qa/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
		t.Fatalf("qa still runs the rejected version:\n%s", k)
	}
}

// TestSimultaneousAlertsRollBackOnce (H10): two alerts on one bad version
// (error rate and latency, different fingerprints) in one payload. The
// second was judged against the version the first restored: prod went
// back two versions and the good one was rejected.
func TestSimultaneousAlertsRollBackOnce(t *testing.T) {
	f := newTestFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		f.push(t, "shop/checkout", v)
		if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	loop := NewLoop(f.agent, time.Hour)
	events := make(chan rollbackEvent, 8)
	loop.OnRollback = func(_ Alert, r *RollbackResult, err error) { events <- rollbackEvent{r, err} }
	go loop.RunAlerts(ctx)
	loop.OnAlerts(ctx, []Alert{
		{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f-errors"},
		{App: "checkout", Env: "prod", Name: "HighLatency", Fingerprint: "f-latency"},
	})
	for range 2 {
		select {
		case ev := <-events:
			if ev.err != nil {
				t.Fatal(ev.err)
			}
		case <-time.After(30 * time.Second): // a bound for a slow machine
			t.Fatal("an alert was never handled")
		}
	}
	if n := strings.Count(f.git(t, "log", "--format=%s", "main"), "rollback checkout in prod"); n != 1 {
		t.Fatalf("%d rollback commits, want 1:\n%s", n, f.git(t, "log", "--format=%s", "main"))
	}
	if k := f.git(t, "show", "main:overlays/prod/kustomization.yaml"); !strings.Contains(k, "newTag: 1.1.0") {
		t.Fatalf("prod should run 1.1.0:\n%s", k)
	}
	if rej := f.git(t, "show", "main:.ferry/rejected.yaml"); strings.Contains(rej, "1.1.0") {
		t.Fatalf("the good version was rejected:\n%s", rej)
	}
}

// TestRollbackGivenUpIsForgottenAndNotified: a rollback that cannot
// succeed (prod's overlay no longer parses) is given up with its reason,
// told to the notifier (a person must act) and handed to Forget, so that
// Alertmanager's resend is acted on once the overlay is fixed.
func TestRollbackGivenUpIsForgottenAndNotified(t *testing.T) {
	f := newTestFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		f.push(t, "shop/checkout", v)
		if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
			t.Fatal(err)
		}
	}
	f.edit(t, "break prod", map[string]func(string) string{"overlays/prod/kustomization.yaml": func(string) string { return "images: [\n" }})
	var events eventLog
	f.agent.SetNotifier(&events)
	loop := NewLoop(f.agent, time.Hour)
	forgotten := make(chan Alert, 1)
	loop.Forget = func(al Alert) { forgotten <- al }
	go loop.RunAlerts(ctx)
	loop.OnAlerts(ctx, []Alert{{App: "checkout", Env: "prod", Name: "HighErrorRate", Fingerprint: "f1"}})
	select {
	case al := <-forgotten:
		if al.Fingerprint != "f1" {
			t.Fatalf("forgot %+v", al)
		}
	case <-time.After(30 * time.Second): // a bound for a slow machine
		t.Fatal("the rollback was neither given up nor forgotten")
	}
	events.mu.Lock()
	defer events.mu.Unlock()
	for _, ev := range events.events {
		if ev.Kind == notify.Rollback && strings.Contains(ev.Reason, "cannot succeed") {
			return
		}
	}
	t.Fatalf("no notification says the rollback was given up: %+v", events.events)
}
