// ferry run's HTTP side: the webhook endpoints, their secret (followed
// when its file changes), the alert routing, metrics and the dashboard.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/dashboard"
	"github.com/ferry-dev/ferry/agent/dora"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/internal/text"
)

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
	dopt := dashboard.Options{Token: dashToken, Log: g.log}
	if p.Dashboard.OIDC != nil {
		// Sign-in and actions; without dashboard.oidc the dashboard only reads.
		si, err := dashSignIn(ctx, p)
		if err != nil {
			return nil, err
		}
		dopt.SignIn, dopt.Actions = si, dashActions{loop: loop.Load}
		g.log.Info("dashboard sign-in", "issuer", p.Dashboard.OIDC.Issuer, "roles", len(p.Dashboard.Roles))
	}
	mux.Handle("/", dashboard.New(newDashSource(loop.Load), dopt))
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
				if r := g.responder.Load(); r != nil {
					l = r.loop // this replica holds no Lease: it still rolls back
				}
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
