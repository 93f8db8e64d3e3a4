package rollback

import (
	"context"
	"io/fs"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/state"
)

// A rollback's commit is proven to build before it is pushed: one
// kustomize build per overlay it changes (the environment and its
// mirrors), milliseconds each, which were most of an alert's way to the
// push. What such a build gives is fixed by the commit the rollback is
// made on, the overlay, the app and the version it goes back to; so after
// a pass pushes promotions, Prepare builds their rollbacks ahead (on the
// head the pass left), and the alert that follows finds them built. On any
// other head nothing is reused: the builds run as before.

// maxPrepared bounds the remembered builds (they are of one head, and a
// build is a whole rendered overlay): past it they start again.
const maxPrepared = 64

type buildKey struct{ head, app, env, tag, digest string }

// build is one overlay build, shared by whoever asks for it first.
type build struct {
	done chan struct{}
	out  []byte
	err  error
}

// builds remembers the builds of one head: a new head forgets the rest.
type builds struct {
	mu   sync.Mutex
	head string
	m    map[buildKey]*build
}

// render is render memoised under k: a build under way for k is waited
// for, not run twice; a failed one is not kept.
func (b *builds) render(k buildKey, render promote.Renderer) promote.Renderer {
	return func(fsys fs.FS, dir string) ([]byte, error) {
		b.mu.Lock()
		if b.head != k.head || len(b.m) >= maxPrepared {
			b.head, b.m = k.head, map[buildKey]*build{}
		}
		if c, ok := b.m[k]; ok {
			b.mu.Unlock()
			<-c.done
			if c.err == nil {
				return c.out, nil
			}
			return render(fsys, dir)
		}
		c := &build{done: make(chan struct{})}
		b.m[k] = c
		b.mu.Unlock()
		c.out, c.err = render(fsys, dir)
		close(c.done)
		if c.err != nil {
			b.mu.Lock()
			if b.m[k] == c {
				delete(b.m, k)
			}
			b.mu.Unlock()
		}
		return c.out, c.err
	}
}

// renderer is the Renderer for setting app to v in env on st.
func (r *Rollbacker) renderer(st *state.State, app *config.App, env *config.Environment, v ledger.Version) promote.Renderer {
	return r.builds.render(buildKey{st.Snap.Hash(), app.Name, env.Name, v.Tag, v.Digest}, r.opts.Render)
}

// Prepare builds, on head, the overlays an alert's rollback of app in env
// would commit there (env's target when env mirrors one), so that the
// rollback, if the alert comes before the branch moves, does not wait for
// them. It changes nothing; errors are the rollback's to find and report.
func (r *Rollbacker) Prepare(ctx context.Context, head *fleet.Snapshot, appName, envName string) {
	app, ok := r.opts.Config.App(appName)
	if !ok {
		return
	}
	env, ok := r.opts.Config.Env(envName)
	if !ok {
		return
	}
	if target, ok := r.opts.Config.Env(env.Mirror); ok {
		env = target
	}
	if env.Canary != nil || (env.PullRequest && r.opts.Config.Rollback.PullRequest && r.opts.PRs != nil) {
		return // an abort, or a pull request: no build of its own to prepare
	}
	st := state.Read(r.opts.Config, head, nil)
	from := st.Version(app, env.Name)
	if from.IsZero() || st.Err != nil || st.Envs[env.Name].Err != nil {
		return
	}
	lg, err := r.lastGood(ctx, st, app, env, from, "")
	if err != nil || !lg.found {
		return
	}
	_, _ = r.bump(st, app, r.targets(st, app, env, from), lg.version)
}

// bump sets app to v in each target's overlay on st (promote.Bump), the
// builds side by side: they are independent, and an alert waits for the
// slowest, not for their sum. It returns the overlays in targets' order,
// or the first target's error.
func (r *Rollbacker) bump(st *state.State, app *config.App, targets []*config.Environment, v ledger.Version) ([][]byte, error) {
	out := make([][]byte, len(targets))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			out[i], errs[i] = promote.Bump(st, r.renderer(st, app, t, v), app, t, "", v)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// targets are env and the mirrors of env that run from: the overlays a
// rollback of from changes.
func (r *Rollbacker) targets(st *state.State, app *config.App, env *config.Environment, from ledger.Version) []*config.Environment {
	var out []*config.Environment
	for _, t := range append([]*config.Environment{env}, r.mirrorsOf(env.Name)...) {
		if es := st.Envs[t.Name]; es.Err == nil && es.Version(app).Same(from, state.Moving(app)) {
			out = append(out, t)
		}
	}
	return out
}

// Move names an environment a version was just promoted into.
type Move struct{ App, Env string }

// ahead is the background preparation: one at a time, the newest waiting.
type ahead struct {
	mu      sync.Mutex
	running bool
	next    *aheadReq
}

type aheadReq struct {
	head  *fleet.Snapshot
	moves []Move
	gen   int64 // rollbacks started before the request
}

// prepareDelay is how long after a pass PrepareAhead starts building. No
// alert comes that soon for the version just promoted (Alertmanager waits
// group_wait, 30 s by default, after an alert fires), and building at once
// would compete for the CPU with what follows a pass (its analyses, a
// rollback already under way, the next pass).
const prepareDelay = 50 * time.Millisecond

// PrepareAhead runs Prepare in the background on head for the furthest
// environment each app's version reached in moves (oldest first): the
// furthest is where a version runs for the most users, and a rollback
// there also covers its mirrors; preparing every step of a chain would
// cost a build per environment for alerts that rarely come. One
// preparation runs at a time; a newer call replaces one still waiting,
// whose head is older. It starts prepareDelay after the call, and not
// at all when a rollback started meanwhile. ctx bounds the work (the
// agent's).
func (r *Rollbacker) PrepareAhead(ctx context.Context, head *fleet.Snapshot, moves []Move) {
	if len(moves) == 0 || head == nil {
		return
	}
	r.ahead.mu.Lock()
	r.ahead.next = &aheadReq{head: head, moves: moves, gen: r.started.Load()}
	if r.ahead.running {
		r.ahead.mu.Unlock()
		return
	}
	r.ahead.running = true
	r.ahead.mu.Unlock()
	go func() {
		for {
			r.ahead.mu.Lock()
			req := r.ahead.next
			r.ahead.next = nil
			if req == nil || ctx.Err() != nil {
				r.ahead.running = false
				r.ahead.mu.Unlock()
				return
			}
			r.ahead.mu.Unlock()
			select {
			case <-time.After(prepareDelay):
			case <-ctx.Done():
			}
			if r.started.Load() != req.gen {
				continue // a rollback since moved the head, or builds its own
			}
			seen := map[string]bool{}
			for i := len(req.moves) - 1; i >= 0; i-- {
				if m := req.moves[i]; !seen[m.App] {
					seen[m.App] = true
					r.Prepare(ctx, req.head, m.App, m.Env)
				}
			}
		}
	}()
}
