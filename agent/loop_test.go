package agent

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
)

// countingFleet counts fetches and can fail them.
type countingFleet struct {
	Fleet
	fetches atomic.Int64
	fail    atomic.Bool
	clk     *clocktesting.FakeClock // each fetch takes 100 ms of it
}

func (c *countingFleet) Fetch(ctx context.Context) (*fleet.Snapshot, error) {
	c.fetches.Add(1)
	if c.clk != nil {
		c.clk.Step(100 * time.Millisecond)
	}
	if c.fail.Load() {
		return nil, errors.New("git is down")
	}
	return c.Fleet.Fetch(ctx)
}

// TestLoopInterval: passes come once per interval, timed from each pass's
// start (issue 17: the due time was set from the end of a pass, so every
// other tick was skipped and passes ran at twice the interval); a fleet
// repo that cannot be read is retried with backoff, not in a tight loop.
func TestLoopInterval(t *testing.T) {
	f := newTestFleet(t)
	cf := &countingFleet{Fleet: f.agent.fleet}
	cfg := *f.agent.cfg
	cfg.Registry = config.Registry{Interval: config.Duration(2 * time.Second)}
	a, err := New(Options{Config: &cfg, Fleet: cf, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 1000})})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	cf.clk = clk
	a.now = clk.Now
	loop := NewLoopWithClock(a, 2*time.Second, clk)
	passes := make(chan struct{}, 64)
	loop.OnPass = func(*Result, error) { passes <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go loop.Run(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case <-passes:
		case <-time.After(30 * time.Second):
			t.Fatalf("no pass %s", what)
		}
	}
	wait("at start")
	for range 5 {
		// A pass takes 100 ms; the next is due 2 s after the last one
		// started, so 1.9 s after it ended (timed from the end, it would
		// wait 2 s, and a ticker would skip every other tick).
		waitForTimer(t, clk)
		clk.Step(1900 * time.Millisecond)
		wait("one interval after the last pass started")
	}
	select {
	case <-passes:
		t.Fatal("an extra pass within the interval")
	case <-time.After(100 * time.Millisecond):
	}

	// Git down: each failed pass waits longer before the next, never a tight loop.
	cf.fail.Store(true)
	before := cf.fetches.Load()
	for range 4 {
		waitForTimer(t, clk)
		clk.Step(2 * time.Second)
		select {
		case <-passes:
		case <-time.After(2 * time.Second):
		}
	}
	waitForTimer(t, clk)
	clk.Step(10 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if n := cf.fetches.Load() - before; n > 4 {
		t.Fatalf("%d fetches in 8 s of fake time with git down: the loop retries in a tight loop", n)
	}
}

// waitForTimer waits until the loop sleeps on the fake clock.
func waitForTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("the loop never waited on its clock")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestStaleReadStartsNoSecondRun (H10): a pass that read the repo before a
// verification ended still reports it owed (the verdict note came after
// its read); that report must not run it again, or the same commit gets a
// second verdict, which may differ. A read after the end may (ferry
// retry-analysis removes the verdict, and the next pass runs it).
func TestStaleReadStartsNoSecondRun(t *testing.T) {
	f := newTestFleet(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.push(t, "shop/checkout", "1.0.0")
	if _, err := f.agent.Reconcile(ctx, Scope{All: true}); err != nil {
		t.Fatal(err)
	}
	loop := NewLoop(f.agent, time.Hour)
	var starts atomic.Int32
	loop.OnVerifying = func(Verification) { starts.Add(1) }
	v := Verification{App: "checkout", Env: "dev", Commit: f.git(t, "rev-parse", "main"), Version: Version{Tag: "1.0.0"}}
	idle := func() {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) { // a bound, not a speed check
			loop.mu.Lock()
			busy := loop.running[v.Key()]
			loop.mu.Unlock()
			if !busy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the verification never ended")
			}
		}
	}
	staleRead := time.Now()
	loop.startVerification(ctx, v, staleRead)
	idle()
	loop.startVerification(ctx, v, staleRead) // a pass that read before the run ended
	idle()
	if n := starts.Load(); n != 1 {
		t.Fatalf("%d runs after a stale report, want 1", n)
	}
	loop.startVerification(ctx, v, time.Now()) // a read after it ended
	idle()
	if n := starts.Load(); n != 2 {
		t.Fatalf("%d runs after a fresh report, want 2", n)
	}
}

// TestScopeSize: a full pass logs apps=all, not apps=0 beside its
// promotions (issue 14 item 7).
func TestScopeSize(t *testing.T) {
	for _, tc := range []struct {
		s    Scope
		want string
	}{
		{Scope{All: true}, "all"},
		{Scope{All: true, Apps: []string{"cart"}}, "all"},
		{Scope{Apps: []string{"cart", "checkout"}}, "2"},
		{Scope{}, "0"},
	} {
		if got := tc.s.size(); got != tc.want {
			t.Errorf("%+v.size() = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestFailedAppRetriedSooner: an app whose step failed in a pass (a
// registry 404 for a tag its notification just named: distribution sends
// the event before the tag resolves) is due again after a backoff of
// about a second, doubling, not after a whole interval; it is back on its
// interval once a pass of it succeeds. Apps outside the pass's scope keep
// their pace.
func TestFailedAppRetriedSooner(t *testing.T) {
	f := newTestFleet(t)
	clk := clocktesting.NewFakeClock(time.Now())
	l := NewLoopWithClock(f.agent, time.Hour, clk)
	start := clk.Now()
	failed := &Result{Plan: Plan{Steps: []Step{{App: "checkout", Env: "dev", Action: ActionError, Reason: "404"}}}}
	scope := Scope{Apps: []string{"checkout"}, Reason: "registry push"}

	var waits []time.Duration
	for range 3 {
		l.markPolled(scope, start)
		l.retryFailed(failed, scope, start)
		waits = append(waits, l.polled["checkout"].Add(l.appInterval("checkout")).Sub(start))
	}
	for i, w := range waits {
		lo := time.Duration(1<<i) * time.Second
		if w < lo || w > lo+lo/5 {
			t.Errorf("retry %d due after %v, want about %v (backoff from 1 s)", i+1, w, lo)
		}
	}
	// Out of scope: a full-pass error of another app changes nothing here.
	l.retryFailed(&Result{Plan: Plan{Steps: []Step{{App: "other", Action: ActionError}}}}, scope, start)
	if _, ok := l.appRetry["other"]; ok {
		t.Error("an app outside the pass's scope was paced")
	}
	// A pass of the app that succeeds puts it back on its interval.
	l.markPolled(scope, start)
	l.retryFailed(&Result{}, scope, start)
	if due := l.polled["checkout"].Add(l.appInterval("checkout")).Sub(start); due != l.appInterval("checkout") {
		t.Errorf("after a good pass due in %v, want the interval %v", due, l.appInterval("checkout"))
	}
	if _, ok := l.appRetry["checkout"]; ok {
		t.Error("the backoff outlived a good pass")
	}
}
