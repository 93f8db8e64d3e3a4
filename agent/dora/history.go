package dora

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/overlays"
)

// overlayCommit is a commit that changed an environment's kustomization,
// with the images it left there.
type overlayCommit struct {
	commit fleet.Commit
	// rec is the record the change is judged by: the commit's own, or for
	// a merge that is no record of ferry's its second parent's (a merged
	// pull request carries ferry's commit there).
	rec ledger.Record
	// changes are the apps whose stable version this commit changed (a
	// zero version: the app left the overlay); only what changed is kept,
	// so a long history of a large fleet stays small.
	changes  map[string]version
	readable bool // false when the kustomization could not be parsed
}

// rawCommit is an overlay commit as read, before it is compared with the
// one before.
type rawCommit struct {
	overlayCommit
	images []overlays.Image
}

// history is every measured environment's overlay commits, oldest first,
// as of head.
type history struct {
	head   string
	cfg    *config.Pipeline
	target string
	envs   map[string][]overlayCommit
	last   map[string]map[string]version // per env, every app's version at head
	order  []string                      // envs' keys, in the pipeline's order
}

func (h *history) targetCommits() []overlayCommit { return h.envs[h.target] }

// readHistory reads the target environment's overlay history and that of
// every other non-mirror environment (where versions first appear). Given
// the history of an earlier head of the same branch and pipeline, it reads
// only the commits since.
func readHistory(ctx context.Context, repo Source, head *fleet.Snapshot, cfg *config.Pipeline, target *config.Environment, prev *history) (*history, error) {
	h := &history{head: head.Hash(), cfg: cfg, target: target.Name, envs: map[string][]overlayCommit{}, last: map[string]map[string]version{}}
	var envs []*config.Environment
	for _, name := range cfg.Order() {
		if env, ok := cfg.Env(name); ok && (env.Mirror == "" || name == target.Name) {
			envs = append(envs, env)
			h.order = append(h.order, name)
		}
	}
	since, ok, err := newCommits(ctx, repo, head, prev, cfg, target.Name)
	if err != nil {
		return nil, err
	}
	got := make([][]rawCommit, len(envs))
	// One walk per environment, in parallel: each is a long path-filtered
	// log, independent of the others.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, env := range envs {
		g.Go(func() error {
			var cs []rawCommit
			var err error
			if ok {
				cs, err = readEnvSince(gctx, repo, head, env, prev.head, since)
			} else {
				cs, err = readEnv(gctx, repo, head, env)
			}
			got[i] = cs
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, env := range envs {
		var base map[string]version
		var old []overlayCommit
		if ok {
			base, old = prev.last[env.Name], slices.Clip(prev.envs[env.Name])
		}
		cs, last := diff(got[i], env, cfg.Apps, base)
		h.envs[env.Name], h.last[env.Name] = append(old, cs...), last
	}
	return h, nil
}

// newCommits lists the commits from head back to prev's head, newest
// first, when prev is an earlier state of the same pipeline that head
// descends from; ok is false when everything must be read.
func newCommits(ctx context.Context, repo Source, head *fleet.Snapshot, prev *history, cfg *config.Pipeline, target string) (since []fleet.Commit, ok bool, err error) {
	// A new config may add apps or move overlays: the old history does not
	// answer for it.
	if prev == nil || prev.cfg != cfg || prev.target != target {
		return nil, false, nil
	}
	err = repo.Log(ctx, head, func(c fleet.Commit) (bool, error) {
		if c.Hash == prev.head {
			ok = true
			return false, nil
		}
		since = append(since, c)
		return true, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("dora: read the history since %.12s: %w", prev.head, err)
	}
	return since, ok, nil // not ok: the branch was rewritten, start over
}

// readEnvSince is readEnv for the commits since base only (newest first),
// comparing the kustomization's object id commit by commit: a walk back to
// the previous change, as LogPath would make, could cross the whole history.
func readEnvSince(ctx context.Context, repo Source, head *fleet.Snapshot, env *config.Environment, base string, since []fleet.Commit) ([]rawCommit, error) {
	p := kustomizationPath(head, env)
	older, err := objectID(repo, base, p)
	if err != nil {
		return nil, err
	}
	var out []rawCommit
	for i := len(since) - 1; i >= 0; i-- {
		c := since[i]
		id, err := objectID(repo, c.Hash, p)
		if err != nil {
			return nil, err
		}
		if id == older {
			continue
		}
		older = id
		oc, err := readOverlayCommit(ctx, repo, c, p)
		if err != nil {
			return nil, err
		}
		out = append(out, oc)
	}
	return out, nil
}

// objectID is the id of path at commit, "" when absent.
func objectID(repo Source, commit, path string) (string, error) {
	snap, err := repo.Snapshot(commit)
	if err != nil {
		return "", err
	}
	id, err := snap.ObjectID(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return id, err
}

// kustomizationPath is env's kustomization file at head (kustomization.yaml,
// .yml or Kustomization, as kustomize finds it).
func kustomizationPath(head *fleet.Snapshot, env *config.Environment) string {
	p, _ := overlays.FindKustomization(head.FS(), env.Overlay) // absent: the default name, whose history is empty
	return p
}

// readEnv reads the commits that changed env's kustomization, oldest first.
func readEnv(ctx context.Context, repo Source, head *fleet.Snapshot, env *config.Environment) ([]rawCommit, error) {
	p := kustomizationPath(head, env)
	var out []rawCommit
	err := repo.LogPath(ctx, head, p, func(c fleet.Commit) (bool, error) {
		oc, err := readOverlayCommit(ctx, repo, c, p)
		out = append(out, oc)
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("dora: read the history of %s: %w", p, err)
	}
	slices.Reverse(out)
	return out, nil
}

func readOverlayCommit(ctx context.Context, repo Source, c fleet.Commit, p string) (rawCommit, error) {
	oc := rawCommit{overlayCommit: overlayCommit{commit: c, rec: ledger.Parse(c.Message), readable: true}}
	snap, err := repo.Snapshot(c.Hash)
	if err != nil {
		return oc, err
	}
	data, err := snap.ReadFile(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The overlay was removed: the env runs nothing.
	case err != nil:
		return oc, err
	default:
		if oc.images, err = overlays.ReadImages(data); err != nil {
			oc.readable = false // a broken commit changes nothing we can measure
		}
	}
	// A merged pull request's merge commit is the forge's; the promotion
	// it brings is ferry's commit on the merged branch.
	if byFerry(oc.rec) == "" && len(c.Parents) > 1 {
		if oc.rec, err = secondParentRecord(ctx, repo, c, oc.rec); err != nil {
			return oc, fmt.Errorf("dora: read the merged commit of %.12s: %w", c.Hash, err)
		}
	}
	return oc, nil
}

// secondParentRecord returns the record of c's merged commit when it is
// ferry's, else own (c's).
func secondParentRecord(ctx context.Context, repo Source, c fleet.Commit, own ledger.Record) (ledger.Record, error) {
	snap, err := repo.Snapshot(c.Parents[1])
	if err != nil {
		return nil, err
	}
	rec := own
	err = repo.Log(ctx, snap, func(p fleet.Commit) (bool, error) {
		if r := ledger.Parse(p.Message); byFerry(r) != "" {
			rec = r
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// byFerry is the app a record of ferry's is about; "" for a person's change.
func byFerry(r ledger.Record) string {
	if _, ok := r.(*ledger.Change); ok {
		return ""
	}
	app, _ := ledger.AppEnv(r)
	return app
}

// version is what an images entry pins: a tag, a digest or both.
type version struct{ tag, digest string }

func (v version) isZero() bool { return v.tag == "" && v.digest == "" }

// String names the version as commits do: its tag, else its digest.
func (v version) String() string {
	if v.tag != "" {
		return v.tag
	}
	return v.digest
}

// diff turns an env's raw commits (oldest first) into the version changes
// of each app, starting from base (nil: nothing ran before); it returns
// the versions after the last commit.
func diff(raw []rawCommit, env *config.Environment, apps []config.App, base map[string]version) ([]overlayCommit, map[string]version) {
	cur := make(map[string]version, len(apps))
	for k, v := range base {
		cur[k] = v
	}
	out := make([]overlayCommit, 0, len(raw))
	for _, rc := range raw {
		oc := rc.overlayCommit
		if oc.readable {
			idx := overlays.NewIndex(rc.images)
			for i := range apps {
				app := &apps[i]
				// The stable entry only: a canary step is not a deployment
				// until the delivery makes the version stable.
				im, _ := idx.App(app.Image, app.Name, env.CanaryEntry(app))
				if v := (version{tag: im.NewTag, digest: im.Digest}); v != cur[app.Name] {
					if oc.changes == nil {
						oc.changes = map[string]version{}
					}
					oc.changes[app.Name], cur[app.Name] = v, v
				}
			}
		}
		out = append(out, oc)
	}
	return out, cur
}

// abortOf recognises ferry's abort of a delivery in env.
func abortOf(r ledger.Record, env string) (app, v string, ok bool) {
	a, isAbort := r.(*ledger.Abort)
	if !isAbort || a.Env != env {
		return "", "", false
	}
	return a.App, a.Canary.Tag, true
}
