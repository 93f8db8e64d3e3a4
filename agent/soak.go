package agent

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/overlays"
)

// runningSince finds when env started running v without interruption, from
// the commits that changed env's kustomization (ferry's and people's alike).
func (a *Agent) runningSince(ctx context.Context, st *fleetState, app *config.App, envName string, v Version) (time.Time, bool, error) {
	c, ok, err := a.runStart(ctx, st, app, envName, v)
	return c.Time, ok, err
}

// runStart finds the commit that brought v into env, when env still runs it.
func (a *Agent) runStart(ctx context.Context, st *fleetState, app *config.App, envName string, v Version) (fleet.Commit, bool, error) {
	env, ok := a.cfg.Env(envName)
	if !ok || st.envs[envName].version(app) != v {
		return fleet.Commit{}, false, nil
	}
	var start fleet.Commit
	found := false
	err := overlayVersions(ctx, a.fleet, st.snap, app, env, func(c fleet.Commit, at Version, ok bool) bool {
		if !ok || at != v {
			return false // an unreadable or other version ends the run
		}
		start, found = c, true
		return true
	})
	return start, found, err
}

// overlayVersions walks the commits that changed env's kustomization, newest
// first, telling fn the app's version after each (ok is false when the
// overlay was absent or unreadable then); fn returns whether to go on.
func overlayVersions(ctx context.Context, repo Fleet, from *fleet.Snapshot, app *config.App, env *config.Environment, fn func(fleet.Commit, Version, bool) bool) error {
	p := kustomizationPath(env)
	return repo.LogPath(ctx, from, p, func(c fleet.Commit) (bool, error) {
		snap, err := repo.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		data, err := snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return fn(c, Version{}, false), nil
		}
		if err != nil {
			return false, err
		}
		images, err := overlays.ReadImages(data)
		if err != nil {
			return fn(c, Version{}, false), nil
		}
		return fn(c, (&envState{images: images}).version(app), true), nil
	})
}
