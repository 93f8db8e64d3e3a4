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
	env, ok := a.cfg.Env(envName)
	if !ok || st.envs[envName].version(app) != v {
		return time.Time{}, false, nil
	}
	p := kustomizationPath(env)
	var since time.Time
	found := false
	err := a.fleet.LogPath(ctx, st.snap, p, func(c fleet.Commit) (bool, error) {
		snap, err := a.fleet.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		data, err := snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		images, err := overlays.ReadImages(data)
		if err != nil {
			return false, nil // an unreadable past version ends the run
		}
		if (&envState{images: images}).version(app) != v {
			return false, nil
		}
		since, found = c.Time, true
		return true, nil
	})
	return since, found, err
}
