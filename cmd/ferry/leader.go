package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/kube"
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

// electedRun calls run as the elected writer: directly without
// --leader-elect or --shards; while holding the Lease with --leader-elect;
// with the apps of the shards this replica holds with --shards (restarted
// when they change). run's ctx ends when the Lease is lost; a Lease is
// released only after run returned.
func electedRun(ctx context.Context, g *globals, o leaderOpts, run func(ctx context.Context, apps func(string) bool) error) error {
	if !o.elect && o.shards <= 1 {
		return run(ctx, nil)
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
		err = kube.RunElected(ctx, lo, func(ctx context.Context) { runErr = run(ctx, nil) })
	} else {
		err = kube.RunSharded(ctx, kube.ShardOptions{LeaderOptions: lo, Shards: o.shards}, func(ctx context.Context, shards []int) {
			// ShardOf is the same hash in every replica, so the apps this
			// replica runs are exactly its shards' and no other replica's.
			held := map[int]bool{}
			for _, s := range shards {
				held[s] = true
			}
			g.log.Info("running the apps of shards", "shards", shards, "of", o.shards)
			runErr = run(ctx, func(app string) bool { return held[kube.ShardOf(app, o.shards)] })
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
