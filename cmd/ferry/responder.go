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
		// New alerts queue at the new responder at once; its worker
		// starts only once the old one has stopped: they share the clone,
		// and each agent's writer turn guards it only against its own
		// writers. The alerts the old one had queued are forgotten, so
		// Alertmanager's resend reaches the new one.
		lctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		if old := g.responder.Swap(&responder{loop: l, stop: stop, done: done}); old != nil {
			old.stop()
			<-old.done
		}
		go func() { defer close(done); l.RunAlerts(lctx) }()
		return nil
	}
	if err := build(p); err != nil {
		return err
	}
	if isRepoURL(g.config) {
		// The responder's own clone: no other fetch for this watch.
		head := func(ctx context.Context) (*fleet.Snapshot, error) { return g.responder.Load().loop.Agent().Head(ctx) }
		go watchResponderConfig(ctx, g, p, rrepo, head, bytes.Clone(g.loadedConfig), build)
	}
	return nil
}

// responder is the running alert responder and how to stop it.
type responder struct {
	loop *agent.Loop
	stop context.CancelFunc
	done chan struct{} // closed when its alert worker has returned
}

// watchResponderConfig fetches the fleet repo every git interval and, when
// its ferry.yaml changed, verified and valid, builds the responder again
// on it and routes alerts by it. A configuration refused (unsigned under
// verifyCommits, invalid) is logged once and the running one kept.
func watchResponderConfig(ctx context.Context, g *globals, p *config.Pipeline, repo *fleet.Repo, head func(context.Context) (*fleet.Snapshot, error), loaded []byte, build func(*config.Pipeline) error) {
	t := time.NewTicker(p.Git.Interval.Std())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		snap, err := head(ctx)
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
