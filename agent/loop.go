package agent

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/utils/clock"

	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/internal/backoff"
	"github.com/ferry-dev/ferry/internal/text"
)

// triggers coalesces requests for a pass that arrive while one runs.
type triggers struct {
	mu     sync.Mutex
	all    bool
	apps   map[string]bool
	reason string
	signal chan struct{}
}

// newTriggers buffers one signal: any number of requests during a pass make
// one more pass, not a queue of them.
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

// Loop runs passes on an interval and whenever a webhook asks for one;
// beside them, it rolls back on alerts and runs verifications, each of
// which never waits for a pass: writes meet only in the publisher, where a
// rollback goes first.
type Loop struct {
	agent    *Agent
	clock    clock.Clock
	interval time.Duration
	// polled is when each app's registry was last asked, from the start of
	// that pass: the next poll is due an interval after it, not after the
	// pass's end (which skipped every other tick).
	polled map[string]time.Time
	// appRetry paces the apps whose last pass failed (retryFailed).
	appRetry map[string]*backoff.Backoff
	gitRead  time.Time
	ready    atomic.Bool
	trig     *triggers
	alerts   chan Alert

	// OnRollback, when set, sees every alert handled (notifications, CLI).
	OnRollback func(Alert, *RollbackResult, error)
	// Forget, when set, is told of an alert given up: the webhook's
	// deduplication forgets it, so Alertmanager's resend is acted on.
	Forget func(Alert)
	// OnPass, when set, sees every pass result (the CLI prints them).
	OnPass func(*Result, error)
	// OnVerdict, when set, sees every analysis the loop finished.
	OnVerdict func(Verification, analysis.Result)
	// OnVerifying, when set, sees every verification the moment it starts.
	OnVerifying func(Verification)

	mu      sync.Mutex
	running map[string]bool // verifications under way, by key
	// finished is when each verification last ended, by key: a pass that
	// read the repo before then reports it owed from a stale read (its
	// verdict note was not there yet) and must not run it a second time.
	finished map[string]time.Time
	last     atomic.Pointer[PassRecord]
	good     atomic.Pointer[PassRecord] // the newest pass that read the fleet repo
	// retryAt holds the loop back after a pass that could not read the
	// fleet repo: failures back off (doubling up to the interval) instead
	// of retrying at once, as due apps would make it.
	retryAt time.Time
	failing *backoff.Backoff // nil while passes read the repo
}

// PassRecord is the newest pass's result, for pages and status.
type PassRecord struct {
	Result *Result
	Err    error
	At     time.Time
}

// LastPass returns the newest pass the loop finished; nil before the first.
func (l *Loop) LastPass() *PassRecord { return l.last.Load() }

// LastGoodPass returns the newest pass that read the fleet repo (its Result
// is set): pages and DORA keep showing it while later passes fail.
func (l *Loop) LastGoodPass() *PassRecord { return l.good.Load() }

// NewLoop makes a loop whose full passes come every interval; apps with
// their own interval are polled on it.
func NewLoop(a *Agent, interval time.Duration) *Loop {
	return NewLoopWithClock(a, interval, clock.RealClock{})
}

// NewLoopWithClock is NewLoop on a given clock (tests use a fake one).
func NewLoopWithClock(a *Agent, interval time.Duration, c clock.Clock) *Loop {
	if interval <= 0 {
		interval = time.Minute
	}
	// 256 alerts fit while one rollback runs; past that they are dropped
	// until Alertmanager resends them (OnAlerts).
	return &Loop{agent: a, clock: c, interval: interval, polled: map[string]time.Time{}, appRetry: map[string]*backoff.Backoff{}, trig: newTriggers(),
		alerts: make(chan Alert, 256), running: map[string]bool{}, finished: map[string]time.Time{}}
}

// Agent is the agent the loop drives.
func (l *Loop) Agent() *Agent { return l.agent }

// Ready reports whether a pass has read the fleet repo since the loop started.
func (l *Loop) Ready() bool { return l.ready.Load() }

// Trigger asks for a pass soon; it never blocks.
func (l *Loop) Trigger(s Scope) { l.trig.add(s) }

func (l *Loop) appInterval(app string) time.Duration {
	if a, ok := l.agent.cfg.App(app); ok && a.Interval > 0 {
		return a.Interval.Std()
	}
	if r := l.agent.cfg.Registry.Interval; r > 0 {
		return r.Std()
	}
	return l.interval
}

// untilDue is the wait until the next app's poll or the next read of Git.
func (l *Loop) untilDue() time.Duration {
	next := l.gitRead.Add(l.interval)
	for _, a := range l.agent.cfg.Apps {
		if d := l.polled[a.Name].Add(l.appInterval(a.Name)); d.Before(next) {
			next = d
		}
	}
	if next.Before(l.retryAt) {
		next = l.retryAt
	}
	// At least 10 ms: a due time already past must not spin the loop.
	return max(next.Sub(l.clock.Now()), 10*time.Millisecond)
}

func (l *Loop) dueApps() []string {
	now := l.clock.Now()
	var apps []string
	for _, a := range l.agent.cfg.Apps {
		if !now.Before(l.polled[a.Name].Add(l.appInterval(a.Name))) {
			apps = append(apps, a.Name)
		}
	}
	return apps
}

// retryFailed makes an app of the pass's scope whose step failed due
// again after a backoff (1 s, doubling up to its interval) instead of a
// whole interval: a registry notification is sent once, and distribution
// sends it before the pushed tag resolves, so the pass it starts may read
// a 404 that a second later is the new version.
func (l *Loop) retryFailed(res *Result, s Scope, start time.Time) {
	inScope := func(app string) bool { return s.All || slices.Contains(s.Apps, app) }
	failed := map[string]bool{}
	for _, st := range res.Plan.Steps {
		if st.Action == ActionError && inScope(st.App) {
			failed[st.App] = true
		}
	}
	for app := range l.appRetry {
		if inScope(app) && !failed[app] {
			delete(l.appRetry, app)
		}
	}
	for app := range failed {
		b := l.appRetry[app]
		if b == nil {
			b = backoff.New(time.Second, l.appInterval(app))
			l.appRetry[app] = b
		}
		l.polled[app] = start.Add(min(b.Next(), l.appInterval(app)) - l.appInterval(app))
	}
}

func (l *Loop) markPolled(s Scope, at time.Time) {
	for _, a := range l.agent.cfg.Apps {
		if s.All || slices.Contains(s.Apps, a.Name) {
			l.polled[a.Name] = at
		}
	}
}

// OnRegistryEvents maps pushed images to apps and asks for a pass for them.
func (l *Loop) OnRegistryEvents(_ context.Context, events []webhook.RegistryEvent) {
	apps := l.agent.appsFor(events)
	if len(apps) == 0 {
		// Info, one line per image: a registry host spelled differently
		// from ferry.yaml's image must show, not pass silently as a 202.
		// (A JFrog push names its image three ways; one line for each.)
		seen := map[[2]string]bool{}
		for _, ev := range events {
			k := [2]string{ev.Host, ev.Repository}
			if !seen[k] {
				seen[k] = true
				l.agent.obs.Log.Info("registry notification matches no app", "host", text.Truncate(ev.Host, 100), "repository", text.Truncate(ev.Repository, 100))
			}
		}
		return
	}
	l.agent.obs.Log.Info("registry push", "apps", apps)
	// The pushed tag may be one a kept tag list lacks: ask in full.
	if f, ok := l.agent.poller.Registry.(tagForgetter); ok {
		for _, name := range apps {
			if app, ok := l.agent.cfg.App(name); ok {
				f.ForgetTags(app.Image)
			}
		}
	}
	l.Trigger(Scope{Apps: apps, Reason: "registry push"})
}

// tagForgetter is a registry client that keeps tag lists for conditional
// requests (registry.Client).
type tagForgetter interface{ ForgetTags(image string) }

// OnPush asks for a full pass when the fleet repo changed.
func (l *Loop) OnPush(_ context.Context, ev webhook.PushEvent) {
	l.Trigger(Scope{All: true, Reason: "git push " + text.Truncate(ev.Ref, 100)})
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
		k := repoKey{ref.RegistryStr(), ref.RepositoryStr()}
		byFull[k] = append(byFull[k], app.Name)
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
