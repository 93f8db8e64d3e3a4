// The loop's run: passes when due or asked for, the alert worker beside
// them, and each pass's verifications started.

package agent

import (
	"context"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/backoff"
)

// Run blocks until ctx ends, running the first pass at once.
func (l *Loop) Run(ctx context.Context) error {
	verifying := func(v Verification) { l.startVerification(ctx, v, l.clock.Now()) } // just pushed: a fresh read
	late := func(app string) { l.Trigger(Scope{Apps: []string{app}, Reason: "registry answered"}) }
	acted := func() { l.Trigger(Scope{Reason: "action"}) }
	l.agent.onVerify.Store(&verifying)
	l.agent.onLate.Store(&late)
	l.agent.onAction.Store(&acted)
	defer l.agent.onVerify.Store(nil)
	defer l.agent.onLate.Store(nil)
	defer l.agent.onAction.Store(nil)
	var workers sync.WaitGroup
	workers.Go(func() { l.alertWorker(ctx) })
	defer workers.Wait()

	l.Trigger(Scope{All: true, Reason: "start"})
	for {
		timer := l.clock.NewTimer(l.untilDue())
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C():
			if l.clock.Now().Before(l.retryAt) {
				continue // backing off after a failed read of the fleet repo
			}
			if apps := l.dueApps(); len(apps) > 0 || !l.clock.Now().Before(l.gitRead.Add(l.interval)) {
				l.Trigger(Scope{Apps: apps, Reason: "interval"})
			}
		case <-l.trig.signal:
			timer.Stop()
			l.pass(ctx, l.trig.take())
		}
	}
}

// RunAlerts carries out alerts only, without passes, until ctx ends: a
// replica that holds no Lease (or no shard) still answers every alert,
// since a rollback goes through Git and is idempotent.
func (l *Loop) RunAlerts(ctx context.Context) {
	l.alertWorker(ctx)
}

func (l *Loop) pass(ctx context.Context, s Scope) {
	// Due times count from the pass's start: counted from its end, they
	// would drift by the pass's length every time.
	start := l.clock.Now()
	res, err := l.agent.Reconcile(ctx, s)
	if err == nil {
		l.ready.Store(true)
		l.gitRead = start
		l.markPolled(s, start)
		l.retryFailed(res, s, start)
		l.failing = nil
		l.retryAt = time.Time{}
		err = res.Err()
	} else {
		if l.failing == nil {
			l.failing = backoff.New(time.Second, l.interval)
		}
		l.retryAt = start.Add(l.failing.Next())
	}
	l.agent.obs.Metrics.Pass(err)
	// A pass cut short by shutdown is not an error worth a log line.
	switch {
	case err != nil && ctx.Err() == nil:
		l.agent.obs.Log.Error("reconcile pass", "reason", s.Reason, "apps", s.size(), "err", err)
	case res != nil:
		l.agent.obs.Log.Info("reconcile pass", "reason", s.Reason, "apps", s.size(), "promotions", len(res.Promotions))
	}
	if res != nil {
		for _, v := range res.Verifications {
			l.startVerification(ctx, v, start)
		}
	}
	rec := &PassRecord{Result: res, Err: err, At: l.clock.Now()}
	l.last.Store(rec)
	if res != nil {
		l.good.Store(rec)
	}
	if l.OnPass != nil {
		l.OnPass(res, err)
	}
}
