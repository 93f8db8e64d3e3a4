// The loop's alert worker: rollbacks ahead of passes, one per alert
// episode, retried until they land, the alert resolves or ferry stops.

package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/internal/backoff"
)

// Retries of a rollback that can still succeed (a refused push, the git
// server down) go on until it lands, the alert resolves or ferry stops,
// as a controller's work queue retries an item: the alert is why the
// version must go, and Alertmanager's resends are deduplicated.
const (
	rollbackRetryFirst   = 50 * time.Millisecond
	rollbackRetryCeiling = 30 * time.Second
)

// OnAlerts queues alerts for the alert worker; it never blocks the
// webhook. It returns the alerts that did not fit, so the caller can
// forget having seen them and take Alertmanager's resend.
func (l *Loop) OnAlerts(_ context.Context, alerts []Alert) (dropped []Alert) {
	now := l.clock.Now()
	for _, al := range alerts {
		if al.received.IsZero() {
			al.received = now
		}
		select {
		case l.alerts <- al:
		default:
			l.agent.obs.Log.Error("alert queue full; dropping alert until Alertmanager resends it", "alert", al.Name, "app", al.App, "env", al.Env)
			dropped = append(dropped, al)
		}
	}
	return dropped
}

// undone is a rollback the alert worker made: when, and of which version.
type undone struct {
	at   time.Time
	from Version
}

// pendingRollback is an alert whose rollback failed and is retried.
type pendingRollback struct {
	alert  Alert
	delays *backoff.Backoff
}

// forgetPending hands the alerts this loop will not carry out (retries
// due, alerts still queued) to Forget when it stops (shutdown, a new
// ferry.yaml), so that they are acted on when Alertmanager resends them.
func (l *Loop) forgetPending(retrying map[string]*pendingRollback) {
	// Said in the log: a page that went unhandled must leave a trace.
	drop := func(al Alert, why string) {
		l.agent.obs.Log.Warn("stopping with a rollback not done; Alertmanager's next resend will be acted on",
			"alert", al.Name, "app", al.App, "env", al.Env, "state", why)
		if l.Forget != nil {
			l.Forget(al)
		}
	}
	for _, r := range retrying {
		drop(r.alert, "retrying")
	}
	for {
		select {
		case al := <-l.alerts:
			if !al.Resolved {
				drop(al, "queued")
			}
		default:
			return
		}
	}
}

// alertWorker carries out alerts one at a time, beside the passes: a
// rollback waits for no pass, registry or policy, only for a write in
// flight. A rollback that can still succeed is retried with backoff until
// it lands or its alert resolves; one that cannot is given up with its
// reason, and Forget lets Alertmanager's next resend try again.
func (l *Loop) alertWorker(ctx context.Context) {
	// retrying holds the episodes whose rollback failed and is due again.
	retrying := map[string]*pendingRollback{}
	// rolledBack is this worker's last rollback per app and environment:
	// when it landed (on the loop's clock) and the version it undid. An
	// alert received before it is about that version: two alerts on one
	// bad version (error rate and latency) arriving together must not
	// roll back twice, the second undoing the good version the first
	// restored. Commit times cannot tell (whole seconds, other clocks).
	rolledBack := map[string]undone{}
	for {
		var al Alert
		select {
		case <-ctx.Done():
			l.forgetPending(retrying)
			return
		case al = <-l.alerts:
		}
		key := al.App + "\x00" + al.Env + "\x00" + al.Fingerprint
		if al.Resolved {
			if retrying[key] != nil {
				l.agent.obs.Log.Info("alert resolved; its rollback, still failing, is not retried", "alert", al.Name, "app", al.App, "env", al.Env)
			}
			delete(retrying, key) // a retry still queued finds nothing and ends
			if _, err := l.agent.Resolve(ctx, al); err != nil && ctx.Err() == nil {
				l.agent.obs.Log.Error("lift freeze after resolved alert", "alert", al.Name, "env", al.Env, "err", err)
			}
			continue
		}
		if al.retry && retrying[key] == nil {
			continue
		}
		if u, ok := rolledBack[al.App+"\x00"+al.Env]; ok && al.About == nil && al.received.Before(u.at) {
			about := u.from
			al.About = &about
		}
		res, err := l.agent.RollbackAlert(ctx, al)
		if err == nil && res != nil && (res.Commit != "" || res.Aborted) {
			u := undone{at: l.clock.Now(), from: res.From}
			rolledBack[al.App+"\x00"+al.Env] = u
			rolledBack[res.App+"\x00"+res.Env] = u // the target, when the alert named a mirror
			for _, m := range res.Mirrors {
				rolledBack[res.App+"\x00"+m] = u
			}
		}
		if al.About == nil && res != nil && !res.From.IsZero() {
			about := res.From // a retry undoes this version or nothing
			al.About = &about
		}
		switch {
		case err == nil:
			delete(retrying, key)
		case errors.Is(err, ErrUnknownTarget):
			delete(retrying, key)
			l.agent.obs.Log.Warn("alert ignored", "alert", al.Name, "err", err)
		case ctx.Err() != nil:
			if l.Forget != nil {
				l.Forget(al) // stopped mid-rollback: the resend must be taken
			}
		case publish.IsTerminal(err):
			delete(retrying, key)
			l.agent.obs.Log.Error("rollback cannot succeed; giving up until the alert is sent again", "alert", al.Name, "app", al.App, "env", al.Env, "err", err)
			// A person must act: tell them where they listen, not only in the log.
			l.agent.obs.Notify(notify.Event{Kind: notify.Rollback, App: al.App, Env: al.Env,
				Reason: fmt.Sprintf("the rollback for alert %s cannot succeed and was given up: %v", al.Name, err)})
			if l.Forget != nil {
				l.Forget(al)
			}
		default:
			r := retrying[key]
			if r == nil {
				r = &pendingRollback{delays: backoff.New(rollbackRetryFirst, rollbackRetryCeiling)}
				retrying[key] = r
			}
			r.alert = al
			d := r.delays.Next()
			l.agent.obs.Log.Error("rollback failed; retrying", "alert", al.Name, "app", al.App, "env", al.Env, "attempt", r.delays.Count(), "in", d, "err", err)
			// The retry re-enters the queue instead of sleeping here, so
			// other alerts are not held up behind it.
			al.retry = true
			retry := l.clock.After(d)
			go func() {
				select {
				case <-retry:
					l.OnAlerts(ctx, []Alert{al})
				case <-ctx.Done():
				}
			}()
		}
		if res != nil && res.Stale {
			l.agent.obs.Log.Info("alert or verdict changed nothing", "alert", al.Name, "app", al.App, "env", al.Env, "reason", res.Reason)
		}
		if l.OnRollback != nil {
			l.OnRollback(al, res, err)
		}
		// Later environments may now take other versions.
		l.Trigger(Scope{Reason: "rollback"})
	}
}
