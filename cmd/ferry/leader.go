package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/registry"
)

// leaderOpts are run's flags for running several replicas.
type leaderOpts struct {
	elect          bool
	shards         int
	leaseNamespace string
	leaseName      string
	kubeconfig     string
	leaseDuration  time.Duration
}

func (o *leaderOpts) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.elect, "leader-elect", false, "run as one of several replicas: only the holder of a coordination.k8s.io Lease writes")
	fs.IntVar(&o.shards, "shards", 1, "split the apps into this many shards, one Lease each, shared by the replicas (implies --leader-elect)")
	fs.StringVar(&o.leaseNamespace, "lease-namespace", "", "namespace of the Leases (default: $POD_NAMESPACE, else the pod's own, else default)")
	fs.StringVar(&o.leaseName, "lease-name", "ferry", "name of the Lease (with --shards, the prefix of the Leases)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster holding the Leases (default: in-cluster, else $KUBECONFIG)")
	fs.DurationVar(&o.leaseDuration, "lease-duration", kube.DefaultLeaseDuration, "how long a standby waits after the leader's last renewal before taking over")
}

// shardRun is what one run of the loop covers under --shards: the apps it
// is limited to, and what it reports of each pass. Without --shards both
// are nil: every app, nothing to report.
type shardRun struct {
	apps   func(string) bool
	passed func(*agent.Result, error)
	// started, when set, is told the configuration's apps as the loop
	// starts: the shards' app counts show before a first pass ends (a
	// pass carrying many promotions takes minutes).
	started func(apps []string)
}

// shardMetrics say, on every replica's /metrics, which shards it holds and
// how far its passes got with their apps: summed over the replicas, every
// shard once and every app once.
type shardMetrics struct {
	held     prometheus.Gauge
	apps     *prometheus.GaugeVec
	passed   *prometheus.GaugeVec
	lastPass *prometheus.GaugeVec
}

func newShardMetrics(reg prometheus.Registerer) *shardMetrics {
	m := &shardMetrics{
		held: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ferry_shards_held",
			Help: "Shards (--shards) whose Lease this replica holds and whose apps it runs."}),
		apps: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ferry_shard_apps",
			Help: "Apps of a shard this replica holds, as its passes see them; absent for a shard it does not hold."}, []string{"shard"}),
		passed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ferry_shard_apps_passed",
			Help: "Apps of a shard this replica holds that a pass decided in every environment (the registry answered, no error) since it took the shard."}, []string{"shard"}),
		lastPass: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ferry_shard_last_pass_timestamp_seconds",
			Help: "When this replica's last pass over a shard's apps ended; absent for a shard it does not hold."}, []string{"shard"}),
	}
	if reg != nil {
		reg.MustRegister(m.held, m.apps, m.passed, m.lastPass)
	}
	return m
}

// shardProgress follows one run over the shards held: which of their apps
// a pass has decided since the run started.
type shardProgress struct {
	of     int
	shards []int
	start  time.Time
	shard  map[string]int  // every app the passes saw -> its shard
	passed map[string]bool // apps decided in every environment
	done   map[int]bool    // shards whose every app was decided
}

// decided lists the apps of res whose every step was decided: no error,
// and the registry answered (a first environment's step has a candidate;
// a look-up still pending or not asked in this pass leaves it empty).
func decided(res *agent.Result) (all []string, ok map[string]bool) {
	ok = map[string]bool{}
	for _, st := range res.Plan.Steps {
		good, seen := ok[st.App]
		if !seen {
			all, good = append(all, st.App), true
		}
		ok[st.App] = good && st.Action != agent.ActionError && (st.From != plan.FromRegistry || st.Candidate.Tag != "")
	}
	return all, ok
}

// pass counts a pass's apps by shard, sets the metrics and logs the pass,
// and the moment each shard's every app has been decided.
func (p *shardProgress) pass(log *slog.Logger, m *shardMetrics, res *agent.Result) {
	all, ok := decided(res)
	for _, app := range all {
		if _, known := p.shard[app]; !known {
			p.shard[app] = kube.ShardOf(app, p.of)
		}
		if ok[app] {
			p.passed[app] = true
		}
	}
	apps, passed := map[int]int{}, map[int]int{}
	for app, s := range p.shard {
		apps[s]++
		if p.passed[app] {
			passed[s]++
		}
	}
	now := time.Now()
	for _, s := range p.shards {
		l := strconv.Itoa(s)
		m.apps.WithLabelValues(l).Set(float64(apps[s]))
		m.passed.WithLabelValues(l).Set(float64(passed[s]))
		m.lastPass.WithLabelValues(l).Set(float64(now.UnixMilli()) / 1e3)
	}
	log.Info("shard pass", "shards", p.shards, "apps", len(all), "decided", len(ok)-countFalse(ok), "errors", len(res.Errors))
	for _, s := range p.shards {
		if !p.done[s] && apps[s] > 0 && passed[s] == apps[s] {
			p.done[s] = true
			// After a takeover, this is when the dead replica's apps have
			// all had their next pass.
			log.Info("every app of the shard passed", "shard", s, "apps", apps[s], "since_start", now.Sub(p.start).Round(time.Millisecond))
		}
	}
}

func countFalse(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if !v {
			n++
		}
	}
	return n
}

// electedRun calls run as the elected writer: directly without
// --leader-elect or --shards; while holding the Lease with --leader-elect;
// with the apps of the shards this replica holds with --shards (restarted
// when they change). run's ctx ends when the Lease is lost; a Lease is
// released only after run returned.
func electedRun(ctx context.Context, g *globals, o leaderOpts, metrics prometheus.Registerer, run func(ctx context.Context, sr shardRun) error) error {
	if !o.elect && o.shards <= 1 {
		return run(ctx, shardRun{})
	}
	if o.shards < 1 {
		return fmt.Errorf("--shards %d: want 1 or more", o.shards)
	}
	klog.SetSlogLogger(g.log) // client-go's leader election logs through klog
	rc, err := kube.RESTConfig(config.Cluster{Kubeconfig: o.kubeconfig})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("leader election: client for %s: %w", rc.Host, err)
	}
	lo := kube.LeaderOptions{Client: client, Namespace: leaseNamespace(o.leaseNamespace), Name: o.leaseName,
		LeaseDuration: o.leaseDuration, Logger: g.log}
	// run's error is kept aside: the election's callback returns none.
	var runErr error
	if o.shards == 1 {
		err = kube.RunElected(ctx, lo, func(ctx context.Context) { runErr = run(ctx, shardRun{}) })
	} else {
		m := newShardMetrics(metrics)
		err = kube.RunSharded(ctx, kube.ShardOptions{LeaderOptions: lo, Shards: o.shards}, func(ctx context.Context, shards []int) {
			runErr = runShards(ctx, g, m, o.shards, shards, run)
		})
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopped: a lost lease's error is not the process's
	}
	return runErr
}

// runShards runs the apps of the shards held, reporting each pass in the
// log and the metrics. Its lines bracket the work: nothing of these shards
// runs before "running the apps of shards" or after "stopped the apps of
// shards", and a Lease is released only after the latter.
func runShards(ctx context.Context, g *globals, m *shardMetrics, of int, shards []int, run func(context.Context, shardRun) error) error {
	// ShardOf is the same hash in every replica, so the apps this replica
	// runs are exactly its shards' and no other replica's.
	held := map[int]bool{}
	for _, s := range shards {
		held[s] = true
	}
	m.held.Set(float64(len(shards)))
	p := &shardProgress{of: of, shards: shards, start: time.Now(), shard: map[string]int{}, passed: map[string]bool{}, done: map[int]bool{}}
	g.log.Info("running the apps of shards", "shards", shards, "of", of)
	passed := func(res *agent.Result, _ error) {
		if res != nil { // nil: the fleet repo was not read, no app was decided
			p.pass(g.log, m, res)
		}
	}
	started := func(apps []string) {
		count := map[int]int{}
		for _, app := range apps {
			if s := kube.ShardOf(app, of); held[s] {
				count[s]++
			}
		}
		for _, s := range shards {
			l := strconv.Itoa(s)
			m.apps.WithLabelValues(l).Set(float64(count[s]))
			m.passed.WithLabelValues(l).Add(0) // present, counted by the passes
		}
	}
	err := run(ctx, shardRun{apps: func(app string) bool { return held[kube.ShardOf(app, of)] }, passed: passed, started: started})
	for _, s := range shards {
		l := strconv.Itoa(s)
		m.apps.DeleteLabelValues(l)
		m.passed.DeleteLabelValues(l)
		m.lastPass.DeleteLabelValues(l)
	}
	m.held.Set(0)
	g.log.Info("stopped the apps of shards", "shards", shards, "of", of)
	return err
}

// registries holds the registry client of one configuration. A new agent
// for the same configuration (under --shards, one each time the shards
// held change) reuses it: its per-repository transports (ping, token) are
// what makes a first pass slow, and a survivor taking over a shard would
// otherwise pay them again for the apps it already ran. A reloaded
// configuration gets a new client, which reads the credential files again.
type registries struct {
	mu     sync.Mutex
	of     *config.Pipeline
	client *registry.Client
}

func (g *globals) registryFor(p *config.Pipeline) (*registry.Client, error) {
	g.registries.mu.Lock()
	defer g.registries.mu.Unlock()
	if g.registries.of == p && g.registries.client != nil {
		return g.registries.client, nil
	}
	c, err := registryClient(p, g.log)
	if err != nil {
		return nil, err
	}
	g.registries.of, g.registries.client = p, c
	return c, nil
}

// leaseNamespace is flag, else $POD_NAMESPACE, else the namespace of the
// pod's ServiceAccount, else default.
func leaseNamespace(flag string) string {
	if flag != "" {
		return flag
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	// The pod's own namespace: deploy/ grants Leases there and nowhere else.
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}
