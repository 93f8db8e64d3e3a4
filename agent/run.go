package agent

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
)

// triggers coalesces requests for a pass that arrive while one runs.
type triggers struct {
	mu     sync.Mutex
	all    bool
	apps   map[string]bool
	reason string
	signal chan struct{}
}

func newTriggers() *triggers {
	return &triggers{apps: map[string]bool{}, signal: make(chan struct{}, 1)}
}

func (t *triggers) add(s Scope) {
	t.mu.Lock()
	t.all = t.all || s.All
	for _, a := range s.Apps {
		t.apps[a] = true
	}
	t.reason = s.Reason
	t.mu.Unlock()
	select {
	case t.signal <- struct{}{}:
	default:
	}
}

func (t *triggers) take() Scope {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := Scope{All: t.all, Reason: t.reason}
	for a := range t.apps {
		s.Apps = append(s.Apps, a)
	}
	sort.Strings(s.Apps)
	t.all, t.apps, t.reason = false, map[string]bool{}, ""
	return s
}

// Loop runs passes on an interval and whenever a webhook asks for one.
type Loop struct {
	agent    *Agent
	interval time.Duration
	due      map[string]time.Time // next registry poll per app
	lastPass time.Time
	ready    atomic.Bool // a pass has finished
	alerts   chan Alert
	// OnRollback, when set, sees every alert handled (notifications, CLI).
	OnRollback func(Alert, *RollbackResult, error)
	trig       *triggers
	// OnPass, when set, sees every pass result (the CLI prints them).
	OnPass func(*Result, error)
	// OnVerdict, when set, sees every analysis the loop finished.
	OnVerdict func(Verification, analysis.Result)

	running  map[string]bool // verifications under way, by key
	verdicts chan verdictDone
	last     atomic.Pointer[PassRecord]
}

// PassRecord is the newest pass's result, for pages and status.
type PassRecord struct {
	Result *Result
	Err    error
	At     time.Time
}

// LastPass returns the newest pass the loop finished; nil before the first.
func (l *Loop) LastPass() *PassRecord { return l.last.Load() }

// verdictDone is a finished verification, handed back to the loop, which
// alone writes to the fleet repo.
type verdictDone struct {
	v   Verification
	res analysis.Result
	err error
}

// NewLoop makes a loop whose full passes come every interval; apps with
// their own interval are polled on it.
func NewLoop(a *Agent, interval time.Duration) *Loop {
	if interval <= 0 {
		interval = time.Minute
	}
	return &Loop{agent: a, interval: interval, due: map[string]time.Time{}, trig: newTriggers(), alerts: make(chan Alert, 256),
		running: map[string]bool{}, verdicts: make(chan verdictDone, 16)}
}

// Agent is the agent the loop drives.
func (l *Loop) Agent() *Agent { return l.agent }

// Ready reports whether a pass has read the fleet repo since the loop started.
func (l *Loop) Ready() bool { return l.ready.Load() }

// Trigger asks for a pass soon; it never blocks.
func (l *Loop) Trigger(s Scope) { l.trig.add(s) }

// Run blocks until ctx ends, running the first pass at once.
func (l *Loop) Run(ctx context.Context) error {
	l.Trigger(Scope{All: true, Reason: "start"})
	tick := time.NewTicker(l.tickEvery())
	defer tick.Stop()
	for {
		// Alerts go first: a rollback never waits behind a pass.
		select {
		case al := <-l.alerts:
			l.handleAlert(ctx, al)
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case al := <-l.alerts:
			l.handleAlert(ctx, al)
		case done := <-l.verdicts:
			l.handleVerdict(ctx, done)
		case <-tick.C:
			// Git is read every interval; registries only when their apps are due.
			if apps := l.dueApps(); len(apps) > 0 || time.Since(l.lastPass) >= l.interval {
				l.Trigger(Scope{Apps: apps, Reason: "interval"})
			}
		case <-l.trig.signal:
			s := l.trig.take()
			res, err := l.agent.Reconcile(ctx, s)
			l.lastPass = time.Now()
			if err == nil {
				l.ready.Store(true)
			}
			l.markPolled(s)
			if err == nil {
				err = res.Err()
			}
			l.agent.metrics.pass(err)
			switch {
			case err != nil && ctx.Err() == nil:
				l.agent.log.Error("reconcile pass", "reason", s.Reason, "apps", len(s.Apps), "err", err)
			case res != nil:
				l.agent.log.Info("reconcile pass", "reason", s.Reason, "apps", len(s.Apps), "promotions", len(res.Promotions))
			}
			if res != nil {
				l.startVerifications(ctx, res.Verifications)
			}
			l.last.Store(&PassRecord{Result: res, Err: err, At: time.Now()})
			if l.OnPass != nil {
				l.OnPass(res, err)
			}
		}
	}
}

func (l *Loop) appInterval(app string) time.Duration {
	if a, ok := l.agent.cfg.App(app); ok && a.Interval > 0 {
		return a.Interval.Std()
	}
	if r := l.agent.cfg.Registry.Interval; r > 0 {
		return r.Std()
	}
	return l.interval
}

func (l *Loop) tickEvery() time.Duration {
	d := l.interval
	for _, a := range l.agent.cfg.Apps {
		if iv := l.appInterval(a.Name); iv < d {
			d = iv
		}
	}
	if d < time.Second {
		d = time.Second
	}
	return d
}

func (l *Loop) dueApps() []string {
	now := time.Now()
	var apps []string
	for _, a := range l.agent.cfg.Apps {
		if next, ok := l.due[a.Name]; !ok || !now.Before(next) {
			apps = append(apps, a.Name)
		}
	}
	return apps
}

func (l *Loop) markPolled(s Scope) {
	now := time.Now()
	for _, a := range l.agent.cfg.Apps {
		if s.All || slices.Contains(s.Apps, a.Name) {
			l.due[a.Name] = now.Add(l.appInterval(a.Name))
		}
	}
}

// OnRegistryEvents maps pushed images to apps and asks for a pass for them.
func (l *Loop) OnRegistryEvents(_ context.Context, events []webhook.RegistryEvent) {
	apps := l.agent.appsFor(events)
	if len(apps) == 0 {
		l.agent.log.Info("registry notification matches no app", "events", len(events))
		return
	}
	l.Trigger(Scope{Apps: apps, Reason: "registry push"})
}

// OnPush asks for a full pass when the fleet repo changed.
func (l *Loop) OnPush(_ context.Context, ev webhook.PushEvent) {
	l.Trigger(Scope{All: true, Reason: "git push " + ev.Ref})
}

// appsFor finds the apps whose image a registry event names: by host and
// repository, or by repository alone when only one app has it (a registry
// may know itself by another host name than the one in ferry.yaml).
func (a *Agent) appsFor(events []webhook.RegistryEvent) []string {
	type repoKey struct{ host, repo string }
	byFull := map[repoKey][]string{}
	byRepo := map[string][]string{}
	for _, app := range a.cfg.Apps {
		ref, err := name.NewRepository(app.Image, name.WeakValidation)
		if err != nil {
			continue
		}
		byFull[repoKey{ref.RegistryStr(), ref.RepositoryStr()}] = append(byFull[repoKey{ref.RegistryStr(), ref.RepositoryStr()}], app.Name)
		byRepo[ref.RepositoryStr()] = append(byRepo[ref.RepositoryStr()], app.Name)
	}
	set := map[string]bool{}
	for _, ev := range events {
		if apps, ok := byFull[repoKey{ev.Host, ev.Repository}]; ok {
			for _, n := range apps {
				set[n] = true
			}
			continue
		}
		if apps := byRepo[ev.Repository]; len(apps) == 1 {
			set[apps[0]] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// maxRollbackAttempts bounds the retries of one rollback (about 3 minutes).
const maxRollbackAttempts = 100

// OnAlerts queues alerts for the loop; it never blocks the webhook. It
// returns the alerts that did not fit, so the caller can forget having seen
// them and take Alertmanager's resend.
func (l *Loop) OnAlerts(_ context.Context, alerts []Alert) (dropped []Alert) {
	for _, al := range alerts {
		select {
		case l.alerts <- al:
		default:
			l.agent.log.Error("alert queue full; dropping alert until Alertmanager resends it", "alert", al.Name, "app", al.App, "env", al.Env)
			dropped = append(dropped, al)
		}
	}
	return dropped
}

func (l *Loop) handleAlert(ctx context.Context, al Alert) {
	if al.Resolved {
		if _, err := l.agent.Resolve(ctx, al); err != nil {
			l.agent.log.Error("lift freeze after resolved alert", "alert", al.Name, "env", al.Env, "err", err)
		}
		return
	}
	res, err := l.agent.Rollback(ctx, al)
	switch {
	case errors.Is(err, ErrUnknownTarget):
		l.agent.log.Warn("alert ignored", "alert", al.Name, "err", err)
	case err != nil && ctx.Err() == nil && al.attempts >= maxRollbackAttempts:
		l.agent.log.Error("rollback failed; giving up", "alert", al.Name, "app", al.App, "env", al.Env, "attempts", al.attempts, "err", err)
	case err != nil && ctx.Err() == nil:
		// Never lose a rollback: Alertmanager's resend is deduplicated, so
		// ferry retries itself until the fleet repo takes it.
		al.attempts++
		wait := backoff(min(al.attempts, 6))
		l.agent.log.Error("rollback failed; retrying", "alert", al.Name, "app", al.App, "env", al.Env, "in", wait, "err", err)
		time.AfterFunc(wait, func() { l.OnAlerts(ctx, []Alert{al}) })
	case res.Commit == "":
		l.agent.log.Warn("rollback: nothing committed", "alert", al.Name, "reason", res.Reason)
	}
	if l.OnRollback != nil {
		l.OnRollback(al, res, err)
	}
	// Later environments may now take other versions.
	l.Trigger(Scope{Reason: "rollback"})
}

// startVerifications runs each owed analysis not already under way in its
// own goroutine; the verdict comes back to the loop.
func (l *Loop) startVerifications(ctx context.Context, vs []Verification) {
	for _, v := range vs {
		if l.running[v.key()] {
			continue
		}
		l.running[v.key()] = true
		l.agent.log.Info("analysis started", "app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step,
			"analysis", v.Template, "commit", shortHash(v.Commit))
		go func() {
			res, err := l.agent.Verify(ctx, v)
			select {
			case l.verdicts <- verdictDone{v: v, res: res, err: err}:
			case <-ctx.Done():
			}
		}()
	}
}

func (l *Loop) handleVerdict(ctx context.Context, done verdictDone) {
	delete(l.running, done.v.key())
	if done.err != nil {
		if ctx.Err() == nil {
			l.agent.log.Error("analysis", "app", done.v.App, "env", done.v.Env, "err", done.err)
		}
		return
	}
	rollback, err := l.agent.Record(ctx, done.v, done.res)
	if err != nil {
		// The verification is owed again: the next pass finds no note and reruns it.
		l.agent.log.Error("record verdict", "app", done.v.App, "env", done.v.Env, "err", err)
	}
	if l.OnVerdict != nil {
		l.OnVerdict(done.v, done.res)
	}
	if rollback != nil {
		l.handleAlert(ctx, *rollback)
		return // handleAlert asks for a pass
	}
	l.Trigger(Scope{Reason: "analysis " + string(done.res.Verdict)})
}
