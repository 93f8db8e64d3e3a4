package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/prometheus/client_golang/prometheus"
)

// TestResponderFollowsConfig: a replica that holds no Lease answers
// alerts through its responder; a ferry.yaml commit that adds an app
// reaches the responder within a git interval, so an alert for the new
// app is not ignored (red team: a standby kept the configuration it
// started with).
func TestResponderFollowsConfig(t *testing.T) {
	pipeline := strings.Replace(outputPipeline, "git: {url: FLEET,", "git: {url: FLEET, interval: 200ms,", 1)
	f := newCmdFleet(t, pipeline, nil)
	cfg, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	commit := func(data []byte, msg string) {
		t.Helper()
		clone := filepath.Join(t.TempDir(), "person")
		if out, err := gitIn(t.TempDir(), "clone", "-q", f.bare, clone); err != nil {
			t.Fatalf("clone: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(clone, "ferry.yaml"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"add", "ferry.yaml"}, {"-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-qm", msg}, {"push", "-q", "origin", "HEAD:main"}} {
			if out, err := gitIn(clone, args...); err != nil {
				t.Fatalf("git %v: %v %s", args, err, out)
			}
		}
	}
	commit(cfg, "ferry.yaml")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &globals{config: "file://" + f.bare, branch: "main", workDir: f.work, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	p, _, err := g.loadPipeline(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := startResponder(ctx, g, p, observe.NewMetrics(prometheus.NewRegistry())); err != nil {
		t.Fatal(err)
	}
	apps := func() []string {
		var names []string
		for _, a := range g.responder.Load().loop.Agent().Config().Apps {
			names = append(names, a.Name)
		}
		return names
	}
	if got := strings.Join(apps(), ","); got != "checkout,cart" {
		t.Fatalf("responder apps at start: %s", got)
	}
	added := strings.Replace(string(cfg), "environments:", "  - {name: search, image: "+f.reg+"/shop/search, tags: {semver: \">=1.0.0\"}}\nenvironments:", 1)
	commit([]byte(added), "add search")
	deadline := time.Now().Add(30 * time.Second)
	for strings.Join(apps(), ",") != "checkout,cart,search" {
		if time.Now().After(deadline) {
			t.Fatalf("the responder still answers for %v after the commit that adds search", apps())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken ferry.yaml is refused: the responder keeps the last good one.
	commit([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\napps: [\n"), "broken")
	time.Sleep(time.Second)
	if got := strings.Join(apps(), ","); got != "checkout,cart,search" {
		t.Fatalf("after a broken ferry.yaml the responder answers for %s", got)
	}
}
