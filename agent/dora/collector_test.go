package dora

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// countingSource counts the commits read, to see the cache at work.
type countingSource struct {
	Source
	walks atomic.Int64
}

func (c *countingSource) Snapshot(hash string) (*fleet.Snapshot, error) {
	c.walks.Add(1)
	return c.Source.Snapshot(hash)
}

func TestCollector(t *testing.T) {
	f := build(t, story())
	src := &countingSource{Source: f.repo}
	var head atomic.Pointer[fleet.Snapshot]
	head.Store(f.head)
	now := at(24)
	c := NewCollector(func(context.Context) (State, error) {
		return State{Repo: src, Head: head.Load(), Config: f.cfg}, nil
	}, CollectorOptions{Since: 24 * time.Hour, Now: func() time.Time { return now }})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)

	want := map[string]float64{
		`ferry_dora_change_failure_ratio{app="cart",env="prod"}`:                 0.5,
		`ferry_dora_change_failure_ratio{app="checkout",env="prod"}`:             0.5,
		`ferry_dora_deployments{app="cart",env="prod"}`:                          2,
		`ferry_dora_deployments{app="checkout",env="prod"}`:                      3,
		`ferry_dora_deployment_frequency_per_day{app="cart",env="prod"}`:         2,
		`ferry_dora_deployment_frequency_per_day{app="checkout",env="prod"}`:     3,
		`ferry_dora_lead_time_seconds{app="cart",env="prod",quantile="0.5"}`:     6300,
		`ferry_dora_lead_time_seconds{app="cart",env="prod",quantile="0.9"}`:     11340,
		`ferry_dora_lead_time_seconds{app="checkout",env="prod",quantile="0.5"}`: 9000,
		`ferry_dora_lead_time_seconds{app="checkout",env="prod",quantile="0.9"}`: 14760,
		`ferry_dora_lead_time_mean_seconds{app="cart",env="prod"}`:               6300,
		`ferry_dora_lead_time_mean_seconds{app="checkout",env="prod"}`:           11400,
		`ferry_dora_time_to_restore_seconds{app="checkout",env="prod"}`:          25200,
		`ferry_dora_time_to_restore_mean_seconds{app="checkout",env="prod"}`:     25200,
		`ferry_dora_window_seconds{env="prod"}`:                                  86400,
	}
	compare(t, gather(t, reg), want)
	walks := src.walks.Load()
	if walks == 0 {
		t.Fatal("the first scrape read no history")
	}
	// Git did not move: the next scrapes read nothing.
	for range 3 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.walks.Load(); got != walks {
		t.Fatalf("scrapes at the same head walked the history %d more times", got-walks)
	}
	// A new deployment moves the head (the same story and one more
	// commit, in a second repo): the next scrape sees it.
	b := story()
	b.set("prod", img("cart"), "2.3.0").commit(21, "bob", person("cart 2.3.0 to prod"), "prod")
	f2 := build(t, b)
	src.Source = f2.repo
	head.Store(f2.head)
	got := gather(t, reg)
	if v := got[`ferry_dora_deployments{app="cart",env="prod"}`]; v != 3 {
		t.Fatalf("after cart 2.3.0: %v deployments of cart, want 3", v)
	}
	if src.walks.Load() == walks {
		t.Fatal("a new head did not recompute")
	}
}

func TestCollectorKeepsLastGoodOnError(t *testing.T) {
	f := build(t, story())
	fail := atomic.Bool{}
	c := NewCollector(func(context.Context) (State, error) {
		if fail.Load() {
			return State{Repo: f.repo, Head: f.head, Config: f.cfg}, context.DeadlineExceeded
		}
		return State{Repo: f.repo, Head: f.head, Config: f.cfg}, nil
	}, CollectorOptions{Now: func() time.Time { return at(24) }})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	first := gather(t, reg)
	if len(first) == 0 {
		t.Fatal("no series")
	}
	fail.Store(true)
	compare(t, gather(t, reg), first)
}

// gather scrapes reg into "name{labels}" -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func compare(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-6 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s", k)
		}
	}
}
