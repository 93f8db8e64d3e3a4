package dora

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/overlays"
)

// Trailer keys of DESIGN.md's commit contract. This package does not
// import agent (agent is the one that may import it), so they are repeated.
const (
	trailerApp     = "Ferry-App"
	trailerEnv     = "Ferry-Env"
	trailerVersion = "Ferry-Version"
	trailerCreated = "Ferry-Created"
	trailerRejects = "Ferry-Rejects"
	trailerCanary  = "Ferry-Canary"
)

// overlayCommit is a commit that changed an environment's kustomization,
// with the images it left there.
type overlayCommit struct {
	commit fleet.Commit
	// msg is the message the change is judged by: the commit's own, or for
	// a merge without ferry's trailers its second parent's (a merged pull
	// request carries ferry's commit there).
	msg fleet.Message
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
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, env := range envs {
		g.Go(func() error {
			var cs []rawCommit
			var err error
			if ok {
				cs, err = readEnvSince(gctx, repo, env, prev.head, since)
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
		cs, last := diff(got[i], cfg.Apps, base)
		h.envs[env.Name], h.last[env.Name] = append(old, cs...), last
	}
	return h, nil
}

// newCommits lists the commits from head back to prev's head, newest
// first, when prev is an earlier state of the same pipeline that head
// descends from; ok is false when everything must be read.
func newCommits(ctx context.Context, repo Source, head *fleet.Snapshot, prev *history, cfg *config.Pipeline, target string) (since []fleet.Commit, ok bool, err error) {
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
func readEnvSince(ctx context.Context, repo Source, env *config.Environment, base string, since []fleet.Commit) ([]rawCommit, error) {
	p := kustomizationPath(env)
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

func kustomizationPath(env *config.Environment) string {
	return path.Join(path.Clean(env.Overlay), "kustomization.yaml")
}

// readEnv reads the commits that changed env's kustomization, oldest first.
func readEnv(ctx context.Context, repo Source, head *fleet.Snapshot, env *config.Environment) ([]rawCommit, error) {
	p := kustomizationPath(env)
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
	oc := rawCommit{overlayCommit: overlayCommit{commit: c, msg: c.Message, readable: true}}
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
	if oc.msg.Trailer(trailerApp) == "" && len(c.Parents) > 1 {
		if oc.msg, err = secondParentMessage(ctx, repo, c); err != nil {
			return oc, fmt.Errorf("dora: read the merged commit of %.12s: %w", c.Hash, err)
		}
	}
	return oc, nil
}

// secondParentMessage returns the message of c's merged commit when it
// carries ferry's trailers, else c's own.
func secondParentMessage(ctx context.Context, repo Source, c fleet.Commit) (fleet.Message, error) {
	snap, err := repo.Snapshot(c.Parents[1])
	if err != nil {
		return fleet.Message{}, err
	}
	msg := c.Message
	err = repo.Log(ctx, snap, func(p fleet.Commit) (bool, error) {
		if p.Message.Trailer(trailerApp) != "" {
			msg = p.Message
		}
		return false, nil
	})
	if err != nil {
		return fleet.Message{}, err
	}
	return msg, nil
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
func diff(raw []rawCommit, apps []config.App, base map[string]version) ([]overlayCommit, map[string]version) {
	cur := make(map[string]version, len(apps))
	for k, v := range base {
		cur[k] = v
	}
	out := make([]overlayCommit, 0, len(raw))
	for _, rc := range raw {
		oc := rc.overlayCommit
		if oc.readable {
			idx := indexImages(rc.images)
			for i := range apps {
				app := &apps[i]
				if v := idx.stableVersion(app); v != cur[app.Name] {
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

// imageIndex finds an overlay's entries by name and newName.
type imageIndex struct {
	images    []overlays.Image
	byName    map[string][]int
	byNewName map[string][]int
}

func indexImages(images []overlays.Image) imageIndex {
	x := imageIndex{images: images, byName: make(map[string][]int, len(images)), byNewName: map[string][]int{}}
	for i, im := range images {
		x.byName[im.Name] = append(x.byName[im.Name], i)
		if im.NewName != "" {
			x.byNewName[im.NewName] = append(x.byNewName[im.NewName], i)
		}
	}
	return x
}

// stableVersion is app's version, found as agent/plan.go finds it (by
// image, newName, then app name), never from a NAME-canary entry.
func (x imageIndex) stableVersion(app *config.App) version {
	for _, matches := range [...][]int{x.byName[app.Image], x.byNewName[app.Image], x.byName[app.Name]} {
		for _, i := range matches {
			if im := x.images[i]; !x.isCanary(im) {
				return version{tag: im.NewTag, digest: im.Digest}
			}
		}
	}
	return version{}
}

// isCanary reports the canary Deployment's entry (NAME-canary next to NAME).
func (x imageIndex) isCanary(im overlays.Image) bool {
	base, ok := strings.CutSuffix(im.Name, "-canary")
	if !ok {
		return false
	}
	_, has := x.byName[base]
	return has
}

// aboutApp reports whether ferry's trailers name app (or name no app).
func aboutApp(m fleet.Message, app string) bool {
	a := m.Trailer(trailerApp)
	return a == "" || a == app
}

// abortOf recognises ferry's "abort canary of APP V in ENV" in env.
func abortOf(m fleet.Message, env string) (app, v string, ok bool) {
	rest, ok := strings.CutPrefix(m.Subject, "abort canary of ")
	if !ok {
		return "", "", false
	}
	if a := m.Trailer(trailerApp); a != "" {
		if m.Trailer(trailerEnv) != env {
			return "", "", false
		}
		return a, m.Trailer(trailerCanary), true
	}
	// A message without trailers: "APP V in ENV".
	f := strings.Fields(rest)
	if len(f) != 4 || f[2] != "in" || f[3] != env {
		return "", "", false
	}
	return f[0], f[1], true
}
