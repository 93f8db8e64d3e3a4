package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/observe"
)

// responderDrain is how long a replaced responder keeps answering the
// alerts already queued to it before it stops.
const responderDrain = time.Minute

// startResponder runs the alert responder of a replica that may hold no
// Lease (--leader-elect, --shards): it rolls back for every app, on a
// clone of its own. With ferry.yaml in the fleet repo it follows the
// configuration too (watchResponderConfig): a standby that never runs a
// loop would otherwise ignore alerts for an app added after it started.
func startResponder(ctx context.Context, g *globals, p *config.Pipeline, m *observe.Metrics) error {
	rrepo, err := g.openFleetIn(ctx, p, "alerts")
	if err != nil {
		return err
	}
	build := func(p *config.Pipeline) error {
		ra, err := g.agentForApps(p, rrepo, nil, nil) // every app, whatever shards this replica holds
		if err != nil {
			return err
		}
		ra.SetMetrics(m)
		l := agent.NewLoop(ra, p.Git.Interval.Std())
		l.Forget = g.forgetAlert
		lctx, stop := context.WithCancel(ctx)
		go l.RunAlerts(lctx)
		if old := g.responder.Swap(&responder{loop: l, stop: stop}); old != nil {
			time.AfterFunc(responderDrain, old.stop)
		}
		return nil
	}
	if err := build(p); err != nil {
		return err
	}
	if isRepoURL(g.config) {
		// Not "config": the work dir is itself a bare clone, with a config file.
		cfgRepo, err := g.openFleetIn(ctx, p, "alerts-config")
		if err != nil {
			return err
		}
		go watchResponderConfig(ctx, g, p, cfgRepo, bytes.Clone(g.loadedConfig), build)
	}
	return nil
}

// responder is the running alert responder and how to stop it.
type responder struct {
	loop *agent.Loop
	stop context.CancelFunc
}

// watchResponderConfig fetches the fleet repo every git interval and, when
// its ferry.yaml changed, verified and valid, builds the responder again
// on it and routes alerts by it. A configuration refused (unsigned under
// verifyCommits, invalid) is logged once and the running one kept.
func watchResponderConfig(ctx context.Context, g *globals, p *config.Pipeline, repo *fleet.Repo, loaded []byte, build func(*config.Pipeline) error) {
	t := time.NewTicker(p.Git.Interval.Std())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap, err := repo.Fetch(ctx)
		if err != nil {
			g.log.Debug("responder: fetch for ferry.yaml failed; trying again next interval", "err", err)
			continue
		}
		data, err := snap.ReadFile("ferry.yaml")
		if err != nil || bytes.Equal(data, loaded) {
			continue
		}
		loaded = data
		next, err := g.pipelineAt(snap, data, p)
		if err == nil {
			err = g.configSigned(ctx, p, repo, snap.Hash())
		}
		if err == nil {
			err = build(next)
		}
		if err != nil {
			g.log.Error("responder: new ferry.yaml refused; alerts are still answered by the previous one", "commit", snap.Hash(), "err", err)
			continue
		}
		p = next
		if g.hooks != nil {
			if r, err := alertRouter(p); err == nil {
				g.hooks.SetAlertRouter(r)
			}
		}
		g.log.Info("responder: ferry.yaml changed; alerts now answered by it", "config", p.Source)
	}
}

// pipelineAt parses ferry.yaml as read at snap (loadPipeline, the
// responder's watch): it must name the repo it lives in, or ferry would
// read its configuration from one repository and write to another; it
// gets running's git credentials when it names none.
func (g *globals) pipelineAt(snap *fleet.Snapshot, data []byte, running *config.Pipeline) (*config.Pipeline, error) {
	next, err := config.Parse(fmt.Sprintf("%s@%.12s:ferry.yaml", g.config, snap.Hash()), data)
	if err != nil {
		return nil, err
	}
	if next.Git.URL != running.Git.URL || next.Git.Branch != running.Git.Branch {
		return nil, fmt.Errorf("%s: git.url/branch (%s %s) must name the repo it lives in (%s %s)",
			next.Source, next.Git.URL, next.Git.Branch, running.Git.URL, running.Git.Branch)
	}
	if next.Git.Auth == (config.GitAuth{}) {
		next.Git.Auth = running.Git.Auth
	}
	return next, nil
}
