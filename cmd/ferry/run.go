package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/dashboard"
	"github.com/ferry-dev/ferry/agent/dora"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/internal/text"
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
				rrepo, err := g.openFleetIn(ctx, p, "alerts")
				if err != nil {
					return err
				}
				ra, err := g.agentFor(p, rrepo, nil)
				if err != nil {
					return err
				}
				ra.SetMetrics(m)
				g.responder = agent.NewLoop(ra, p.Git.Interval.Std())
				g.responder.Forget = g.forgetAlert
				go g.responder.RunAlerts(ctx)
			}
			// With --leader-elect or --shards only the elected replica (or the
			// holder of a shard) writes; ctx ends when the Lease is lost.
			return electedRun(ctx, g, lo, func(ctx context.Context, apps func(string) bool) error {
				g.apps = apps
				return runLoop(ctx, g, p, repo, &current, m)
			})
		},
	}
	lo.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&once, "once", false, "run one full reconcile pass and exit: 0 when every app and environment was decided, 1 when one could not be")
	cmd.Flags().StringVar(&listen, "listen", "", "address for the dashboard (/), webhooks, /metrics, /api/progress, /healthz and /readyz (e.g. 127.0.0.1:8080)")
	cmd.Flags().StringVar(&dashTokenFile, "dashboard-token-file", "", "file holding the token the dashboard requires (default $FERRY_DASHBOARD_TOKEN; none: open)")
	return cmd
}

// runLoop runs the reconcile loop until ctx ends, rebuilding the agent
// whenever ferry.yaml changes (by commit, when it lives in the fleet repo).
func runLoop(ctx context.Context, g *globals, p *config.Pipeline, repo *fleet.Repo, current *atomic.Pointer[agent.Loop], m *observe.Metrics) error {
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
			// ferry.yaml in the fleet repo is the configuration: a change is a commit.
			loop.OnPass = func(res *agent.Result, _ error) {
				if res != nil && g.configChanged(repo, res.Plan.Commit) {
					reload()
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
		if err != nil {
			// Keep running the last good configuration; a broken one never runs.
			g.log.Error("new ferry.yaml refused; keeping the previous one", "err", err)
			continue
		}
		g.log.Info("ferry.yaml changed; reloaded", "config", next.Source)
		g.followTokenFile(p, next)
		p, repo = next, nextRepo
		if g.hooks != nil {
			// Alerts map by the new rollback.labels and rollback.match too.
			if r, err := alertRouter(p); err == nil {
				g.hooks.SetAlertRouter(r)
			}
		}
	}
}

// webhookSecret reads the shared secret: the file of ferry.yaml, else
// FERRY_WEBHOOK_TOKEN, cleaned alike (webhook.CleanSecret): `export
// X=$(cat file)` keeps no newline, but a secret injected from a
// file-backed env often does.
func webhookSecret(p *config.Pipeline) (string, error) {
	if p.Webhooks.TokenFile != "" {
		return webhook.ReadSecretFile(p.Webhooks.TokenFile)
	}
	return webhook.CleanSecret(os.Getenv("FERRY_WEBHOOK_TOKEN")), nil
}

// webhookVerifier authenticates webhook calls: against webhooks.tokenFile,
// followed as it is rotated, else against FERRY_WEBHOOK_TOKEN, fixed for
// the process's life.
func webhookVerifier(p *config.Pipeline, log *slog.Logger) (*webhook.Verifier, error) {
	if p.Webhooks.TokenFile != "" {
		return webhook.NewFileVerifier(p.Webhooks.TokenFile, log)
	}
	secret, _ := webhookSecret(p)
	// No secret, no webhooks: an open endpoint would let anyone trigger
	// rollbacks.
	if secret == "" {
		log.Warn("no webhook secret (webhooks.tokenFile or FERRY_WEBHOOK_TOKEN): every webhook call is refused")
	}
	v := webhook.NewVerifier(secret)
	v.SetLogger(log) // a reloaded ferry.yaml may name a token file later
	return v, nil
}

// followTokenFile points the webhook verifier at a reloaded ferry.yaml's
// webhooks.tokenFile (or back at FERRY_WEBHOOK_TOKEN when it has none).
func (g *globals) followTokenFile(prev, next *config.Pipeline) {
	if g.verifier == nil || prev.Webhooks.TokenFile == next.Webhooks.TokenFile {
		return
	}
	if next.Webhooks.TokenFile == "" {
		secret, _ := webhookSecret(next)
		g.verifier.SetSecret(secret)
		return
	}
	if err := g.verifier.SetTokenFile(next.Webhooks.TokenFile); err != nil {
		g.log.Error("webhooks.tokenFile unreadable: every webhook call is refused until it is fixed", "err", err)
	}
}

func serve(ctx context.Context, addr string, p *config.Pipeline, loop *atomic.Pointer[agent.Loop], metrics *prometheus.Registry, g *globals, dashTokenFile string) (*http.Server, error) {
	verifier, err := webhookVerifier(p, g.log)
	if err != nil {
		return nil, err
	}
	g.verifier = verifier
	mux := http.NewServeMux()
	router, err := alertRouter(p)
	if err != nil {
		return nil, fmt.Errorf("%s: rollback.match: %w", p.Source, err)
	}
	hooks := newHooks(p, verifier, loop.Load, router, g)
	g.hooks = hooks
	mux.Handle("/hooks/", hooks)
	// DORA gauges from the fleet repo's history at the newest pass's head.
	metrics.MustRegister(dora.NewCollector(func(context.Context) (dora.State, error) {
		l := loop.Load()
		if l == nil || l.LastGoodPass() == nil {
			return dora.State{}, nil // no pass has read the fleet repo yet: no DORA series
		}
		head := l.LastGoodPass().Result.Head()
		a := l.Agent()
		snap, err := a.Fleet().Snapshot(head)
		if err != nil {
			return dora.State{}, err
		}
		return dora.State{Repo: a.Fleet(), Head: snap, Config: a.Config()}, nil
	}, dora.CollectorOptions{Log: g.log}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	// Liveness only: it answers while the process serves, whatever Git or
	// the registries do; readiness is /readyz.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/progress", func(w http.ResponseWriter, _ *http.Request) {
		// An empty list, not null, before any loop: clients decode a list.
		progress := []agent.Progress{}
		if l := loop.Load(); l != nil {
			progress = l.Agent().Progress()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(progress)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if l := loop.Load(); l == nil || !l.Ready() {
			http.Error(w, "no pass has finished yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	dashToken, err := dashboard.ReadToken(dashTokenFile)
	if err != nil {
		return nil, fmt.Errorf("dashboard token: %w", err)
	}
	// The dashboard takes every other path: /, /apps/NAME[/ENV].
	mux.Handle("/", dashboard.New(newDashSource(loop.Load), dashboard.Options{Token: dashToken, Log: g.log}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	// Read, write and idle timeouts: a slow client cannot hold a connection.
	srv := webhook.NewServer(mux, webhook.ServerOptions{BodyTimeout: p.Webhooks.BodyTimeout.Std(), BaseContext: ctx})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server", "err", err)
		}
	}()
	g.log.Info("listening", "addr", ln.Addr().String())
	return srv, nil
}

// newHooks is the webhook handler of `ferry run` (and of the demo): it
// authenticates every call with verifier, and hands registry and push events
// to the running loop, alerts to it or to the responder.
func newHooks(p *config.Pipeline, verifier *webhook.Verifier, loopOf func() *agent.Loop, router *webhook.AlertRouter, g *globals) *webhook.Handler {
	// One Deduper for the server: Alertmanager resends an alert every
	// group_interval, and each episode is handed on once.
	dedupe := &webhook.Deduper{}
	g.dedupe = dedupe
	hooks := webhook.New(webhook.HandlerOptions{
		Verifier:           verifier,
		MaxBody:            p.Webhooks.MaxBodyBytes,
		BodyTimeout:        p.Webhooks.BodyTimeout.Std(),
		MaxUnauthenticated: p.Webhooks.MaxUnauthenticated,
		Log:                g.log,

		// A standby (no Lease, no shard) has no passes to ask for: the holder polls.
		OnRegistry: func(ctx context.Context, ev []webhook.RegistryEvent) {
			if l := loopOf(); l != nil {
				l.OnRegistryEvents(ctx, ev)
			}
		},
		OnPush: func(ctx context.Context, ev webhook.PushEvent) {
			if l := loopOf(); l != nil {
				l.OnPush(ctx, ev)
			}
		},
		OnAlerts: func(ctx context.Context, evs []webhook.AlertEvent) {
			l := loopOf()
			if l == nil {
				l = g.responder // this replica holds no Lease: it still rolls back
			}
			if l == nil {
				for _, ev := range evs {
					dedupe.Forget(ev) // starting: take Alertmanager's resend
				}
				return
			}
			// Alerts the full queue dropped are forgotten by the deduper
			// too, so Alertmanager's resend is taken, not swallowed.
			for _, d := range l.OnAlerts(ctx, alertsOf(evs)) {
				for _, ev := range evs {
					if ev.Fingerprint == d.Fingerprint {
						dedupe.Forget(ev)
					}
				}
			}
		},
		AlertRouter: router,
		Deduper:     dedupe,
	})
	return hooks
}

// shutdown gives requests in flight 5 s: they are short (webhooks, pages),
// and an exit must not hang on a slow client.
func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// matchers turns rollback.match's label equalities into Alertmanager matchers.
// alertRouter maps alerts to apps and environments as p's rollback says.
func alertRouter(p *config.Pipeline) (*webhook.AlertRouter, error) {
	return webhook.NewAlertRouter(webhook.AlertRouting{
		AppLabel: p.Rollback.Labels.App, EnvLabel: p.Rollback.Labels.Env, Match: matchers(p.Rollback.Match),
	})
}

func matchers(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%q", k, v))
	}
	// Sorted: map order would make the matchers differ from one start to
	// the next.
	sort.Strings(out)
	return out
}

// forgetAlert makes the webhook's deduplication forget a firing alert the
// agent gave up on, so Alertmanager's next resend is acted on.
func (g *globals) forgetAlert(al agent.Alert) {
	if g.dedupe != nil {
		g.dedupe.Forget(webhook.AlertEvent{Fingerprint: al.Fingerprint, Status: webhook.StatusFiring, StartsAt: al.Started})
	}
}

func alertsOf(evs []webhook.AlertEvent) []agent.Alert {
	out := make([]agent.Alert, len(evs))
	for i, ev := range evs {
		out[i] = agent.Alert{App: ev.App, Env: ev.Env, Name: ev.AlertName, Fingerprint: ev.Fingerprint,
			Summary: ev.Summary, Resolved: ev.Status == "resolved", Started: ev.StartsAt}
		if v := ev.Labels["version"]; v != "" {
			// The alert names the version it measured: a rollback undoes that
			// one or nothing. No tag is longer than 128 characters (OCI).
			out[i].About = &agent.Version{Tag: text.Truncate(v, 128)}
		}
	}
	return out
}

// verifyOnce runs the analyses a single pass found owed and records their
// verdicts, so `ferry run --once` in a CI job ends with them decided.
func verifyOnce(ctx context.Context, w io.Writer, a *agent.Agent, vs []agent.Verification) error {
	for _, v := range vs {
		fmt.Fprintf(w, "analysing %s (%s)...\n", v, cmpOr(v.Template, "readiness"))
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
			rb, err := a.Rollback(ctx, *rollback)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, rb.Reason)
		}
	}
	return nil
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
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
