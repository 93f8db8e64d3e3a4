package dora

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

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
	msg      fleet.Message
	images   []overlays.Image
	readable bool // false when the kustomization could not be parsed
}

// history is every measured environment's overlay commits, oldest first.
type history struct {
	target string
	envs   map[string][]overlayCommit
	order  []string // envs' keys, in the pipeline's order
}

func (h *history) targetCommits() []overlayCommit { return h.envs[h.target] }

// readHistory reads the target environment's overlay history and that of
// every other non-mirror environment (where versions first appear).
func readHistory(ctx context.Context, repo Source, head *fleet.Snapshot, cfg *config.Pipeline, target *config.Environment) (*history, error) {
	h := &history{target: target.Name, envs: map[string][]overlayCommit{}}
	merges := map[string]fleet.Message{} // second-parent messages, read once
	for _, name := range cfg.Order() {
		env, ok := cfg.Env(name)
		if !ok || (env.Mirror != "" && name != target.Name) {
			continue
		}
		cs, err := readEnv(ctx, repo, head, env, merges)
		if err != nil {
			return nil, err
		}
		h.envs[name] = cs
		h.order = append(h.order, name)
	}
	return h, nil
}

func kustomizationPath(env *config.Environment) string {
	return path.Join(path.Clean(env.Overlay), "kustomization.yaml")
}

func readEnv(ctx context.Context, repo Source, head *fleet.Snapshot, env *config.Environment, merges map[string]fleet.Message) ([]overlayCommit, error) {
	p := kustomizationPath(env)
	var out []overlayCommit
	err := repo.LogPath(ctx, head, p, func(c fleet.Commit) (bool, error) {
		oc := overlayCommit{commit: c, msg: c.Message, readable: true}
		snap, err := repo.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		data, err := snap.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The overlay was removed: the env runs nothing.
		case err != nil:
			return false, err
		default:
			if oc.images, err = overlays.ReadImages(data); err != nil {
				oc.readable = false // a broken commit changes nothing we can measure
			}
		}
		if oc.msg.Trailer(trailerApp) == "" && len(c.Parents) > 1 {
			if oc.msg, err = secondParentMessage(ctx, repo, c, merges); err != nil {
				return false, err
			}
		}
		out = append(out, oc)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("dora: read the history of %s: %w", p, err)
	}
	slices.Reverse(out)
	return out, nil
}

// secondParentMessage returns the message of c's merged commit when it
// carries ferry's trailers, else c's own.
func secondParentMessage(ctx context.Context, repo Source, c fleet.Commit, cache map[string]fleet.Message) (fleet.Message, error) {
	if m, ok := cache[c.Hash]; ok {
		return m, nil
	}
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
	cache[c.Hash] = msg
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

// stableVersion is app's version in images, found as agent/plan.go finds
// it (by image, newName, then app name), never a NAME-canary entry.
func stableVersion(images []overlays.Image, app *config.App) version {
	for _, match := range []func(overlays.Image) bool{
		func(im overlays.Image) bool { return im.Name == app.Image },
		func(im overlays.Image) bool { return im.NewName == app.Image },
		func(im overlays.Image) bool { return im.Name == app.Name },
	} {
		for _, im := range images {
			if match(im) && !isCanary(images, im) {
				return version{tag: im.NewTag, digest: im.Digest}
			}
		}
	}
	return version{}
}

// isCanary reports the canary Deployment's entry (NAME-canary next to NAME).
func isCanary(images []overlays.Image, im overlays.Image) bool {
	base, ok := strings.CutSuffix(im.Name, "-canary")
	if !ok {
		return false
	}
	return slices.ContainsFunc(images, func(o overlays.Image) bool { return o.Name == base })
}

// aboutApp reports whether ferry's trailers name app (or name no app).
func aboutApp(m fleet.Message, app string) bool {
	a := m.Trailer(trailerApp)
	return a == "" || a == app
}

// isAbort recognises ferry's "abort canary of APP V in ENV" and returns V.
func isAbort(m fleet.Message, app, env string) (string, bool) {
	rest, ok := strings.CutPrefix(m.Subject, "abort canary of ")
	if !ok {
		return "", false
	}
	if a := m.Trailer(trailerApp); a != "" {
		if a != app || m.Trailer(trailerEnv) != env {
			return "", false
		}
		return m.Trailer(trailerCanary), true
	}
	// A message without trailers: "APP V in ENV".
	f := strings.Fields(rest)
	if len(f) != 4 || f[0] != app || f[2] != "in" || f[3] != env {
		return "", false
	}
	return f[1], true
}
