package main

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

// appsOfShard finds n app names in shard s of of.
func appsOfShard(s, of, n int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		if app := "app" + strconv.Itoa(i); kube.ShardOf(app, of) == s {
			out = append(out, app)
		}
	}
	return out
}

// steps is a pass over apps in dev (from the registry) and qa; pending
// apps have no registry answer, failed ones an error in qa.
func steps(apps []string, pending, failed map[string]bool) *agent.Result {
	res := &agent.Result{}
	for _, app := range apps {
		dev := agent.Step{App: app, Env: "dev", From: plan.FromRegistry, Action: agent.ActionNone, Candidate: ledger.Version{Tag: "1.0.0"}}
		if pending[app] {
			dev.Candidate = ledger.Version{}
		}
		qa := agent.Step{App: app, Env: "qa", From: "dev", Action: agent.ActionNone}
		if failed[app] {
			qa.Action = agent.ActionError
		}
		res.Plan.Steps = append(res.Plan.Steps, dev, qa)
	}
	return res
}

// TestRunShardsReports: a run over shards 0 and 2 of 3 counts its apps by
// shard on /metrics, counts an app passed only once the registry answered
// for it and no environment failed, says once when a shard's every app
// was decided, and leaves no gauge for a shard after the run stopped.
func TestRunShardsReports(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newShardMetrics(reg)
	var logs syncbuf.Buffer
	g := &globals{log: slog.New(slog.NewTextHandler(&logs, nil))}
	zero, two := appsOfShard(0, 3, 4), appsOfShard(2, 3, 3)
	all := append(append([]string{}, zero...), two...)
	gauge := func(v *prometheus.GaugeVec, shard string) float64 {
		return testutil.ToFloat64(v.WithLabelValues(shard))
	}
	err := runShards(context.Background(), g, m, 3, []int{0, 2}, func(ctx context.Context, sr shardRun) error {
		for _, app := range all {
			if !sr.apps(app) {
				t.Errorf("the run over shards 0 and 2 refuses %s", app)
			}
		}
		if other := appsOfShard(1, 3, 1)[0]; sr.apps(other) {
			t.Errorf("the run over shards 0 and 2 takes %s of shard 1", other)
		}
		// Before any pass ends, the counts come from the configuration:
		// shards held show at once (a first pass may take minutes).
		sr.started(append(slices.Clone(all), appsOfShard(1, 3, 2)...))
		if a, p := gauge(m.apps, "0"), gauge(m.passed, "0"); a != 4 || p != 0 {
			t.Errorf("shard 0 at start: %v apps, %v passed; want 4, 0", a, p)
		}
		if a := gauge(m.apps, "2"); a != 3 {
			t.Errorf("shard 2 at start: %v apps, want 3", a)
		}
		// First pass: one app of shard 0 pending, one of shard 2 failing.
		sr.passed(steps(all, map[string]bool{zero[1]: true}, map[string]bool{two[0]: true}), nil)
		if got := testutil.ToFloat64(m.held); got != 2 {
			t.Errorf("ferry_shards_held = %v, want 2", got)
		}
		if a, p := gauge(m.apps, "0"), gauge(m.passed, "0"); a != 4 || p != 3 {
			t.Errorf("shard 0: %v apps, %v passed; want 4, 3 (one pending)", a, p)
		}
		if a, p := gauge(m.apps, "2"), gauge(m.passed, "2"); a != 3 || p != 2 {
			t.Errorf("shard 2: %v apps, %v passed; want 3, 2 (one failed)", a, p)
		}
		if strings.Contains(logs.String(), "every app of the shard passed") {
			t.Errorf("a shard said passed with an app pending or failed:\n%s", logs.String())
		}
		// The pending app answered, in a pass of its own (the others not
		// polled): shard 0 is done, shard 2 still has its failure.
		sr.passed(steps(all, map[string]bool{zero[0]: true, zero[2]: true, zero[3]: true, two[1]: true, two[2]: true}, map[string]bool{two[0]: true}), nil)
		sr.passed(nil, context.Canceled) // a pass that read nothing changes nothing
		sr.passed(steps(all, nil, nil), nil)
		if p := gauge(m.passed, "2"); p != 3 {
			t.Errorf("shard 2 passed %v, want 3", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{`msg="running the apps of shards" shards="[0 2]" of=3`, `msg="every app of the shard passed" shard=0 apps=4`,
		`msg="every app of the shard passed" shard=2 apps=3`, `msg="shard pass" shards="[0 2]" apps=7 decided=5 errors=0`, `msg="stopped the apps of shards" shards="[0 2]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "every app of the shard passed"); n != 2 {
		t.Errorf("%d 'every app passed' lines, want one per shard:\n%s", n, out)
	}
	if n := testutil.CollectAndCount(reg, "ferry_shard_apps", "ferry_shard_apps_passed", "ferry_shard_last_pass_timestamp_seconds"); n != 0 {
		t.Errorf("%d per-shard series left after the run stopped", n)
	}
	if got := testutil.ToFloat64(m.held); got != 0 {
		t.Errorf("ferry_shards_held = %v after the run, want 0", got)
	}
}

// TestRegistryFor: the agents of one configuration share its registry
// client (a shard change does not start cold); a reloaded one gets its own.
func TestRegistryFor(t *testing.T) {
	g := &globals{log: slog.New(slog.DiscardHandler)}
	p1, p2 := &config.Pipeline{}, &config.Pipeline{}
	a, err := g.registryFor(p1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := g.registryFor(p1); b != a {
		t.Errorf("a second agent of one configuration got a new registry client")
	}
	if c, _ := g.registryFor(p2); c == a {
		t.Errorf("a reloaded configuration kept the old registry client")
	}
}
