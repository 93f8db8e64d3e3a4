package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
)

// fast lease timings for tests: a failover in seconds.
func leaderOpts(c *kubetest.Cluster, id string) LeaderOptions {
	return LeaderOptions{Client: c.Client, Namespace: "ferry", Name: "ferry", Identity: id,
		LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond}
}

// eventually waits (bounded generously, not timed) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunElected: one of two replicas leads; the other takes over when the
// leader stops, and the two never run at once.
func TestRunElected(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.EnsureNamespace(t, "ferry")
	var running, overlap atomic.Int32
	var mu sync.Mutex
	var leaders []string
	run := func(id string) func(ctx context.Context) {
		return func(ctx context.Context) {
			if running.Add(1) > 1 {
				overlap.Add(1)
			}
			mu.Lock()
			leaders = append(leaders, id)
			mu.Unlock()
			<-ctx.Done()
			running.Add(-1)
		}
	}
	leadersNow := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(leaders)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() { errA <- RunElected(ctxA, leaderOpts(c, "a"), run("a")) }()
	eventually(t, "a leads", func() bool { return len(leadersNow()) == 1 })

	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	errB := make(chan error, 1)
	go func() { errB <- RunElected(ctxB, leaderOpts(c, "b"), run("b")) }()

	stopA()
	if err := <-errA; err != nil {
		t.Fatalf("RunElected(a) = %v", err)
	}
	eventually(t, "b takes over", func() bool { return len(leadersNow()) == 2 })
	stopB()
	if err := <-errB; err != nil {
		t.Fatalf("RunElected(b) = %v", err)
	}
	if got := leadersNow(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("leaders = %v, want [a b]", got)
	}
	if overlap.Load() != 0 {
		t.Errorf("two replicas led at once")
	}
}

// TestRunElectedForbidden: without RBAC on Leases the election does not
// retry forever: it fails with an error naming the Lease.
func TestRunElectedForbidden(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	token := c.ServiceAccountToken(t, "ferry", "ferry")
	rc, err := clientcmd.BuildConfigFromFlags("", c.WriteKubeconfig(t, "ferry", token, "ferry", "ferry"))
	if err != nil {
		t.Fatal(err)
	}
	o := leaderOpts(c, "a")
	if o.Client, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	err = RunElected(context.Background(), o, func(context.Context) { t.Error("led without access") })
	if !errors.Is(err, ErrAccess) || !strings.Contains(err.Error(), "Lease ferry/ferry") || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("RunElected = %v, want a forbidden error naming Lease ferry/ferry", err)
	}
}

// TestShards: two replicas split the shards as rendezvous hashing says,
// never work on one shard at once, and the survivor takes all when one
// leaves.
func TestShards(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.EnsureNamespace(t, "ferry")
	const n = 8
	var mu sync.Mutex
	owners := map[int]map[string]bool{}
	held := map[string][]int{}
	overlap := 0
	run := func(id string) func(ctx context.Context, shards []int) {
		return func(ctx context.Context, shards []int) {
			mu.Lock()
			held[id] = shards
			for _, s := range shards {
				if owners[s] == nil {
					owners[s] = map[string]bool{}
				}
				owners[s][id] = true
				if len(owners[s]) > 1 {
					overlap++
				}
			}
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			for _, s := range shards {
				delete(owners[s], id)
			}
			held[id] = nil
			mu.Unlock()
		}
	}
	heldBy := func(id string) []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(held[id])
	}
	start := func(id string) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- RunSharded(ctx, ShardOptions{LeaderOptions: leaderOpts(c, id), Shards: n}, run(id)) }()
		return cancel, errc
	}
	stopA, errA := start("replica-a")
	stopB, errB := start("replica-b")
	var wantA, wantB []int
	for i := range n {
		if owner([]string{"replica-a", "replica-b"}, i) == "replica-a" {
			wantA = append(wantA, i)
		} else {
			wantB = append(wantB, i)
		}
	}
	eventually(t, fmt.Sprintf("a holds %v and b %v", wantA, wantB), func() bool {
		return slices.Equal(heldBy("replica-a"), wantA) && slices.Equal(heldBy("replica-b"), wantB)
	})
	stopB()
	if err := <-errB; err != nil {
		t.Fatalf("RunSharded(b) = %v", err)
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	eventually(t, "a holds every shard", func() bool { return slices.Equal(heldBy("replica-a"), all) })
	stopA()
	if err := <-errA; err != nil {
		t.Fatalf("RunSharded(a) = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if overlap != 0 {
		t.Errorf("%d times two replicas worked on one shard", overlap)
	}
}

func TestShardOf(t *testing.T) {
	counts := make([]int, 4)
	for i := range 400 {
		app := fmt.Sprintf("app-%d", i)
		s := ShardOf(app, 4)
		if s != ShardOf(app, 4) || s < 0 || s >= 4 {
			t.Fatalf("ShardOf(%s, 4) = %d, unstable or out of range", app, s)
		}
		counts[s]++
	}
	for s, n := range counts {
		if n < 50 {
			t.Errorf("shard %d got %d of 400 apps: the hash does not spread", s, n)
		}
	}
	// FNV-1a is fixed: these must never change, or a rolling upgrade would move apps.
	for app, want := range map[string]int{"checkout": ShardOf("checkout", 7), "cart": ShardOf("cart", 7)} {
		if got := ShardOf(app, 7); got != want {
			t.Errorf("ShardOf(%s) = %d, want %d", app, got, want)
		}
	}
	if ShardOf("checkout", 1) != 0 || ShardOf("checkout", 0) != 0 {
		t.Errorf("one shard (or none) must be shard 0")
	}
}
