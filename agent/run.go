package agent

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/ferry-dev/ferry/agent/webhook"
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
	trig     *triggers
	// OnPass, when set, sees every pass result (the CLI prints them).
	OnPass func(*Result, error)
}

// NewLoop makes a loop whose full passes come every interval; apps with
// their own interval are polled on it.
func NewLoop(a *Agent, interval time.Duration) *Loop {
	if interval <= 0 {
		interval = time.Minute
	}
	return &Loop{agent: a, interval: interval, due: map[string]time.Time{}, trig: newTriggers()}
}

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
		select {
		case <-ctx.Done():
			return nil
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
		if s.All || contains(s.Apps, a.Name) {
			l.due[a.Name] = now.Add(l.appInterval(a.Name))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
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
