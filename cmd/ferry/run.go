package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/webhook"
)

func runCmd(g *globals) *cobra.Command {
	var once bool
	var listen string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the promotion agent",
		Example: `  # one reconcile pass, then exit (0 when it finished, whatever it decided)
  ferry run --config ferry.yaml --once

  # run continuously, serving webhooks, /metrics, /healthz and /readyz
  ferry run --config ferry.yaml --listen 127.0.0.1:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, repo, err := g.loadPipeline(ctx)
			if err != nil {
				return err
			}
			reg, err := registryClient(p, g.log)
			if err != nil {
				return err
			}
			metrics := prometheus.NewRegistry()
			metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			a, err := newAgent(p, repo, reg, g.log, metrics)
			if err != nil {
				return err
			}
			if once {
				res, err := a.Reconcile(ctx, agent.Scope{All: true, Reason: "once"})
				if err != nil {
					return err
				}
				printResult(cmd.OutOrStdout(), res)
				return res.Err()
			}
			loop := agent.NewLoop(a, p.Git.Interval.Std())
			if listen != "" {
				srv, err := serve(ctx, listen, p, loop, metrics, g)
				if err != nil {
					return err
				}
				defer shutdown(srv)
			}
			g.log.Info("ferry running", "config", p.Source, "fleet", p.Git.URL, "apps", len(p.Apps), "envs", len(p.Environments))
			return loop.Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "run one full reconcile pass and exit")
	cmd.Flags().StringVar(&listen, "listen", "", "address for webhooks, /metrics, /healthz and /readyz (e.g. 127.0.0.1:8080)")
	return cmd
}

// webhookSecret reads the shared secret: the file of ferry.yaml, else FERRY_WEBHOOK_TOKEN.
func webhookSecret(p *config.Pipeline) (string, error) {
	if p.Webhooks.TokenFile != "" {
		return config.ReadSecret(p.Webhooks.TokenFile)
	}
	return os.Getenv("FERRY_WEBHOOK_TOKEN"), nil
}

func serve(ctx context.Context, addr string, p *config.Pipeline, loop *agent.Loop, metrics *prometheus.Registry, g *globals) (*http.Server, error) {
	secret, err := webhookSecret(p)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		g.log.Warn("no webhook secret (webhooks.tokenFile or FERRY_WEBHOOK_TOKEN): every webhook call is refused")
	}
	mux := http.NewServeMux()
	hooks := webhook.NewHandler(webhook.NewVerifier(secret), p.Webhooks.MaxBodyBytes, g.log, loop.OnRegistryEvents, loop.OnPush)
	mux.Handle("/hooks/", hooks)
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server", "err", err)
		}
	}()
	g.log.Info("listening", "addr", ln.Addr().String())
	return srv, nil
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}
