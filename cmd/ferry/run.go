package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/analysis"
)

// runCmd is `ferry run`: the agent, continuously or for one pass (--once,
// for CI jobs), alone or as one of several replicas.
func runCmd(g *globals) *cobra.Command {
	var once bool
	var listen, dashTokenFile string
	var lo leaderOpts
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the promotion agent",
		Long: `run reconciles the pipeline continuously: registry polls and notifications,
Git pushes, verifications and rollbacks. With --once it does one full pass and the
analyses that pass owes, then exits: 0 when every app and environment was decided
(whatever was decided: promoted, held or denied), 1 when one of them could not be
(a registry, the fleet repo or an overlay failed), with the errors on stderr.`,
		Example: `  # one reconcile pass, then exit (0 when everything was decided, 1 on an error)
  ferry run --config ferry.yaml --once

  # run continuously, serving webhooks, /metrics, /healthz and /readyz
  ferry run --config ferry.yaml --listen 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			// A registry of its own, not the global one: only what is
			// registered here is served, and it outlives config reloads.
			metrics := prometheus.NewRegistry()
			metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			p, repo, err := g.loadPipeline(ctx)
			if err != nil {
				return err
			}
			if once {
				a, err := g.agentFor(p, repo, metrics)
				if err != nil {
					return err
				}
				// Notifications get longer to drain than on a reload (5 s): the
				// process exits next, and a CI job wants them sent.
				closeNotes, err := attachNotifier(ctx, g, p, a, 10*time.Second)
				if err != nil {
					return err
				}
				defer closeNotes()
				res, err := a.Reconcile(ctx, agent.Scope{All: true, Reason: "once", Wait: true})
				if err != nil {
					return err
				}
				// The pass's errors only after the analyses: one failed app
				// must not leave the others' verdicts owed.
				printResult(cmd.OutOrStdout(), res)
				if err := verifyOnce(ctx, cmd.OutOrStdout(), a, res.Verifications); err != nil {
					return err
				}
				return res.Err()
			}
			// The HTTP handlers outlive each loop (a reload makes a new one):
			// they reach the current one through this pointer. Listening
			// starts before the first pass, so /healthz answers and /readyz
			// says 503 while it runs.
			var current atomic.Pointer[agent.Loop]
			if listen != "" {
				srv, err := serve(ctx, listen, p, &current, metrics, g, dashTokenFile)
				if err != nil {
					return err
				}
				defer shutdown(srv)
			}
			m := observe.NewMetrics(metrics)
			if lo.elect || lo.shards > 1 {
				// Any replica answers any alert, holding a Lease or not, on a
				// clone of its own so it never shares one with the loop.
				if err := startResponder(ctx, g, p, m); err != nil {
					return err
				}
			}
			// With --leader-elect or --shards only the elected replica (or the
			// holder of a shard) writes; ctx ends when the Lease is lost.
			// One configuration for every restart of the loop (a shard or
			// the Lease taken again): the one it reloaded last, not the one
			// loaded at start.
			running := &runningConfig{p: p, repo: repo}
			return electedRun(ctx, g, lo, metrics, func(ctx context.Context, sr shardRun) error {
				g.apps = sr.apps
				if sr.started != nil {
					var names []string
					for _, a := range running.p.Apps {
						names = append(names, a.Name)
					}
					sr.started(names)
				}
				return runLoop(ctx, g, running, &current, m, sr.passed)
			})
		},
	}
	lo.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&once, "once", false, "run one full reconcile pass and exit: 0 when every app and environment was decided, 1 when one could not be")
	cmd.Flags().StringVar(&listen, "listen", "", "address for the dashboard (/), webhooks, /metrics, /api/progress, /healthz and /readyz (e.g. 127.0.0.1:8080)")
	cmd.Flags().StringVar(&dashTokenFile, "dashboard-token-file", "", "file holding the token the dashboard requires (default $FERRY_DASHBOARD_TOKEN; none: open)")
	return cmd
}

// runningConfig is the configuration the loop runs and the clone it was
// read from; a reload replaces both.
type runningConfig struct {
	p    *config.Pipeline
	repo *fleet.Repo
}

// runLoop runs the reconcile loop until ctx ends, rebuilding the agent
// whenever ferry.yaml changes (by commit, when it lives in the fleet repo)
// and keeping the change in running for the loop's next start.
// passed, when set, sees every pass (--shards reports them per shard).
func runLoop(ctx context.Context, g *globals, running *runningConfig, current *atomic.Pointer[agent.Loop], m *observe.Metrics, passed func(*agent.Result, error)) error {
	p, repo := running.p, running.repo
	for {
		a, err := g.agentFor(p, repo, nil)
		if err != nil {
			return err
		}
		a.SetMetrics(m)
		closeNotes, err := attachNotifier(ctx, g, p, a, 5*time.Second)
		if err != nil {
			return err
		}
		loop := agent.NewLoop(a, p.Git.Interval.Std())
		loop.Forget = g.forgetAlert
		current.Store(loop)
		loopCtx, reload := context.WithCancel(ctx)
		if isRepoURL(g.config) {
			// A pass that fetches a changed ferry.yaml stops there (a long
			// pass would otherwise decide its later moves on the old one).
			a.WatchConfig(g.configChangedAt)
			// ferry.yaml in the fleet repo is the configuration: a change is a commit.
			loop.OnPass = func(res *agent.Result, _ error) {
				if res == nil {
					return
				}
				at := res.Plan.Commit
				if res.ConfigMoved != "" {
					at = res.ConfigMoved
				}
				if !g.configChanged(repo, at) {
					return
				}
				// A change the running signers do not verify is refused
				// here, without a rebuild: the running agent, its accepted
				// policies and what it has told people stay as they are.
				if err := g.configSigned(ctx, p, repo, at); err != nil {
					g.refuseConfig(repo, at, err)
					return
				}
				reload()
			}
		}
		if passed != nil {
			reloadOnChange := loop.OnPass
			loop.OnPass = func(res *agent.Result, err error) {
				passed(res, err)
				if reloadOnChange != nil {
					reloadOnChange(res, err)
				}
			}
		}
		g.log.Info("ferry running", "config", p.Source, "fleet", p.Git.URL, "apps", len(p.Apps), "envs", len(p.Environments))
		err = loop.Run(loopCtx)
		reload()
		closeNotes()
		if err != nil || ctx.Err() != nil {
			return err
		}
		// The loop stopped for a changed ferry.yaml: load it from the
		// branch head.
		next, nextRepo, err := g.loadPipeline(ctx)
		if err == nil {
			err = g.configSigned(ctx, p, nextRepo, g.loadedCommit)
		}
		if err != nil {
			// Keep running the last good configuration; a broken one never runs.
			g.log.Error("new ferry.yaml refused; keeping the previous one", "err", err)
			continue
		}
		g.log.Info("ferry.yaml changed; reloaded", "config", next.Source)
		g.followTokenFile(p, next)
		p, repo = next, nextRepo
		running.p, running.repo = next, nextRepo
		if g.hooks != nil {
			// Alerts map by the new rollback.labels and rollback.match too.
			if r, err := alertRouter(p); err == nil {
				g.hooks.SetAlertRouter(r)
			}
		}
	}
}

// refuseConfig logs a refused ferry.yaml once: it becomes the one
// configChanged compares with, so the next pass does not refuse it again.
func (g *globals) refuseConfig(repo *fleet.Repo, commit string, err error) {
	if snap, serr := repo.Snapshot(commit); serr == nil {
		if data, rerr := snap.ReadFile("ferry.yaml"); rerr == nil {
			g.loadedConfig = data
		}
	}
	g.log.Error("new ferry.yaml refused; keeping the previous one", "err", err)
}

// configSigned checks a changed ferry.yaml against the running
// configuration's git.verifyCommits: the commit that wrote it must be one
// the running signers verify, or an unsigned commit could switch the check
// off or name signers of its own. require refuses it (the running
// configuration stays), warn logs it.
func (g *globals) configSigned(ctx context.Context, running *config.Pipeline, repo *fleet.Repo, commit string) error {
	vc := running.Git.CommitVerification()
	if vc.Mode == state.VerifyOff {
		return nil
	}
	own, err := commitSigner(running)
	if err != nil {
		return err
	}
	snap, err := repo.Snapshot(commit)
	if err != nil {
		return err
	}
	sb, found, err := state.NewSignatures(vc, repo, own, running.Git.Author.Email, g.log).CheckPath(ctx, snap, "ferry.yaml")
	switch {
	case err != nil:
		return err
	case found && sb.Verified:
		return nil
	case !found:
		sb = state.SignedBy{Commit: commit, Reason: "history does not show which commit wrote it"}
	}
	if vc.Mode == state.VerifyWarn {
		g.log.Warn("ferry.yaml changed by an unverified commit", "commit", ledger.ShortHash(sb.Commit), "author", sb.Author, "reason", sb.Reason)
		return nil
	}
	return fmt.Errorf("ferry.yaml at %s: %s; git.verifyCommits is require, so the running configuration stays until a verified commit changes it",
		ledger.ShortHash(commit), sb.Describe())
}

// verifyOnce runs the analyses a single pass found owed and records their
// verdicts, so `ferry run --once` in a CI job ends with them decided.
func verifyOnce(ctx context.Context, w io.Writer, a *agent.Agent, vs []agent.Verification) error {
	for _, v := range vs {
		fmt.Fprintf(w, "analysing %s (%s)...\n", v, cmp.Or(v.Template, "readiness"))
		stop := progressLines(ctx, w, a, v)
		res, err := a.Verify(ctx, v)
		stop()
		if err != nil {
			return err
		}
		rollback, err := a.Record(ctx, v, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %s: %s\n", v, res.Verdict, res.Reason)
		// No alert worker runs here: a failed verdict rolls back at once.
		if rollback != nil {
			rb, err := a.RollbackAlert(ctx, *rollback)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, rb.Reason)
		}
	}
	return nil
}

// progressLines prints each new measurement of v's analysis while it runs,
// one line each, so a long wait shows it is alive.
func progressLines(ctx context.Context, w io.Writer, a *agent.Agent, v agent.Verification) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		shown := 0
		// Twice a second: new measurements show promptly without a busy loop.
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		show := func() {
			for _, p := range a.Progress() {
				if p.App != v.App || p.Env != v.Env || p.Commit != v.Commit {
					continue
				}
				for ; shown < len(p.Measurements); shown++ {
					m := p.Measurements[shown]
					fmt.Fprintf(w, "  %s %s: %s = %s (%s)\n", m.At.Format("15:04:05"), v, m.Metric, analysis.FormatValue(m.Value), m.Phase)
				}
			}
		}
		for {
			show()
			select {
			case <-ctx.Done():
				show() // the last measurements, taken just before the stop
				return
			case <-tick.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// attachNotifier starts the notifications ferry.yaml configures and tells a
// about them; the returned func drains them for at most drain, so a
// notifier that is down never holds up a reload or an exit.
func attachNotifier(ctx context.Context, g *globals, p *config.Pipeline, a *agent.Agent, drain time.Duration) (func(), error) {
	notes, err := notifier(p, g.log)
	if err != nil || notes == nil {
		return func() {}, err
	}
	notes.Start(ctx)
	a.SetNotifier(notes)
	return func() {
		dctx, cancel := context.WithTimeout(context.Background(), drain)
		defer cancel()
		_ = notes.Close(dctx)
	}, nil
}
