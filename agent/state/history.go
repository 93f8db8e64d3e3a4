package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/overlays"
)

// Log is the part of the fleet repo history reading needs (*fleet.Repo).
type Log interface {
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
	LogPath(ctx context.Context, from *fleet.Snapshot, path string, fn func(fleet.Commit) (bool, error)) error
	Snapshot(hash string) (*fleet.Snapshot, error)
}

// History remembers which (app, env, version) ferry has promoted, read from
// the ledger's records. It is a cache of Git: rebuilt from the log on
// start and extended with the commits that arrived since the last look.
// Safe for concurrent use.
//
// It keeps the last MaxRemembered promotions per app and environment: a
// long-running agent over 10,000 apps would otherwise hold every version
// it ever promoted. An older one matters only when it is the candidate
// again while the environment runs something older still (its source
// went back that far), and then a person's replacement of it is
// forgotten.
type History struct {
	mu   sync.Mutex
	head string
	done map[[2]string][]ledger.Version // app, env -> oldest first
}

// MaxRemembered bounds the promotions History keeps per app and environment.
const MaxRemembered = 32

// NewHistory is an empty cache.
func NewHistory() *History { return &History{done: map[[2]string][]ledger.Version{}} }

// Promoted reports whether ferry promoted v of app into env before.
func (h *History) Promoted(app, env string, v ledger.Version) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.done[[2]string{app, env}] {
		if w == v {
			return true
		}
	}
	return false
}

// Record notes a promotion ferry pushed, before the next Update reads it.
func (h *History) Record(app, env string, v ledger.Version) {
	h.mu.Lock()
	h.record(app, env, v)
	h.mu.Unlock()
}

// record keeps v as the newest of app's promotions into env, once.
func (h *History) record(app, env string, v ledger.Version) {
	k := [2]string{app, env}
	vs := slices.DeleteFunc(h.done[k], func(w ledger.Version) bool { return w == v })
	vs = append(vs, v)
	if len(vs) > MaxRemembered {
		vs = slices.Clone(vs[len(vs)-MaxRemembered:])
	}
	h.done[k] = vs
}

// remembered counts the promotions kept, for tests.
func (h *History) remembered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, vs := range h.done {
		n += len(vs)
	}
	return n
}

// Update reads the commits between the last seen head and snap.
func (h *History) Update(ctx context.Context, repo Log, snap *fleet.Snapshot) error {
	h.mu.Lock()
	head := h.head
	h.mu.Unlock()
	if snap.Hash() == head {
		return nil
	}
	var found []fleet.Commit
	reachedKnown := false
	err := repo.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
		if c.Hash == head {
			reachedKnown = true
			return false, nil
		}
		found = append(found, c)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("read history at %s: %w", ledger.ShortHash(snap.Hash()), err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.head != head {
		return nil // another reader got there first; the next Update catches up
	}
	if head != "" && !reachedKnown {
		// The branch no longer holds what we saw: someone rewrote it.
		h.done = map[[2]string][]ledger.Version{}
	}
	// Oldest first: a rollback forgets the promotion it undid, so that once
	// a person un-rejects the version it may move again. Only a person's
	// replacement keeps ferry from promoting a version a second time.
	for i := len(found) - 1; i >= 0; i-- {
		switch r := ledger.Parse(found[i].Message).(type) {
		case *ledger.Promotion:
			h.record(r.App, r.Env, r.Version)
		case *ledger.Rollback:
			k := [2]string{r.App, r.Env}
			h.done[k] = slices.DeleteFunc(h.done[k], func(w ledger.Version) bool { return w.Tag == r.From.Tag })
			if len(h.done[k]) == 0 {
				delete(h.done, k)
			}
		}
	}
	h.head = snap.Hash()
	return nil
}

// RunStart finds the commit that brought v into env, when env still runs
// it at st: the oldest commit of the uninterrupted run of v.
func RunStart(ctx context.Context, repo Log, st *State, app *config.App, env *config.Environment, v ledger.Version) (fleet.Commit, bool, error) {
	if cur := st.Version(app, env.Name); cur.IsZero() || !cur.Same(v, Moving(app)) {
		return fleet.Commit{}, false, nil
	}
	var start fleet.Commit
	found := false
	err := OverlayVersions(ctx, repo, st.Snap, app, env, func(c fleet.Commit, at ledger.Version, ok bool) bool {
		if !ok || !at.Same(v, Moving(app)) {
			return false // an unreadable or other version ends the run
		}
		start, found = c, true
		return true
	})
	return start, found, err
}

// OverlayVersions walks the commits that changed env's kustomization, newest
// first, telling fn the app's version after each (ok is false when the
// overlay was absent or unreadable then); fn returns whether to go on.
func OverlayVersions(ctx context.Context, repo Log, from *fleet.Snapshot, app *config.App, env *config.Environment, fn func(fleet.Commit, ledger.Version, bool) bool) error {
	p, err := overlays.FindKustomization(from.FS(), env.Overlay)
	if err != nil && !errors.Is(err, overlays.ErrNoKustomization) {
		return err
	}
	return repo.LogPath(ctx, from, p, func(c fleet.Commit) (bool, error) {
		snap, err := repo.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		data, err := snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fn(c, ledger.Version{}, false), nil
		}
		if err != nil {
			return false, err
		}
		images, err := overlays.ReadImages(data)
		if err != nil {
			return fn(c, ledger.Version{}, false), nil
		}
		return fn(c, (&Env{Images: images, env: env}).Version(app), true), nil
	})
}

// LastOverlayCommit is the newest commit that changed env's overlay
// directory at snap: the one that put a progressive step in place.
func LastOverlayCommit(ctx context.Context, repo Log, snap *fleet.Snapshot, env *config.Environment) (fleet.Commit, error) {
	var found fleet.Commit
	err := repo.LogPath(ctx, snap, path.Clean(env.Overlay), func(c fleet.Commit) (bool, error) {
		found = c
		return false, nil
	})
	if err == nil && found.Hash == "" {
		err = fmt.Errorf("no commit changed %s", env.Overlay)
	}
	return found, err
}

// Verdict is env's verdict on v, which env runs at st: the verdict note on
// the commit that brought v there. A delivery that completed every step is
// its own verdict (each step had one). found is false while there is none.
func Verdict(ctx context.Context, repo Log, st *State, app *config.App, env *config.Environment, v ledger.Version) (ledger.Verdict, fleet.Commit, bool, error) {
	c, ok, err := RunStart(ctx, repo, st, app, env, v)
	if err != nil || !ok {
		return ledger.Verdict{}, c, false, err
	}
	if vd, ok := st.Note(c.Hash).For(app.Name, env.Name, "", ledger.Version{Tag: v.Tag}); ok {
		return vd, c, true, nil
	}
	if p, ok := ledger.Parse(c.Message).(*ledger.Promotion); ok && p.Completed != "" && env.Canary != nil && !VerifiesPromotions(env) {
		return ledger.Verdict{App: app.Name, Env: env.Name, Version: v, Analysis: env.Canary.Analysis, Verdict: ledger.Successful,
			Reason: fmt.Sprintf("the %s delivery passed every step", p.Completed)}, c, true, nil
	}
	return ledger.Verdict{}, c, false, nil
}

// SoakSince is when env started running v without interruption, from the
// commits that changed env's kustomization (ferry's and people's alike).
func SoakSince(ctx context.Context, repo Log, st *State, app *config.App, env *config.Environment, v ledger.Version) (time.Time, bool, error) {
	c, ok, err := RunStart(ctx, repo, st, app, env, v)
	return c.Time, ok, err
}
