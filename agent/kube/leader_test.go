package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
	"github.com/ferry-dev/ferry/internal/syncbuf"
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

// shardRecorder runs the replicas' shards in a test: which replica runs
// which shards, and whether two ever ran one shard at once.
type shardRecorder struct {
	mu      sync.Mutex
	owners  map[int]map[string]bool
	held    map[string][]int
	overlap int
}

func newShardRecorder() *shardRecorder {
	return &shardRecorder{owners: map[int]map[string]bool{}, held: map[string][]int{}}
}

func (r *shardRecorder) run(id string) func(ctx context.Context, shards []int) {
	return func(ctx context.Context, shards []int) {
		r.mu.Lock()
		r.held[id] = shards
		for _, s := range shards {
			if r.owners[s] == nil {
				r.owners[s] = map[string]bool{}
			}
			r.owners[s][id] = true
			if len(r.owners[s]) > 1 {
				r.overlap++
			}
		}
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		for _, s := range shards {
			delete(r.owners[s], id)
		}
		r.held[id] = nil
		r.mu.Unlock()
	}
}

func (r *shardRecorder) heldBy(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.held[id])
}

// TestShards: two replicas split the shards evenly, never work on one
// shard at once, and the survivor takes all when one leaves.
func TestShards(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.EnsureNamespace(t, "ferry")
	const n = 8
	rec := newShardRecorder()
	start := func(id string) (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- RunSharded(ctx, ShardOptions{LeaderOptions: leaderOpts(c, id), Shards: n}, rec.run(id))
		}()
		return cancel, errc
	}
	stopA, errA := start("replica-a")
	stopB, errB := start("replica-b")
	eventually(t, "a and b hold 4 shards each, every shard once", func() bool {
		a, b := rec.heldBy("replica-a"), rec.heldBy("replica-b")
		all := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
		return len(a) == 4 && len(b) == 4 && slices.Equal(all, []int{0, 1, 2, 3, 4, 5, 6, 7})
	})
	stopB()
	if err := <-errB; err != nil {
		t.Fatalf("RunSharded(b) = %v", err)
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	eventually(t, "a holds every shard", func() bool { return slices.Equal(rec.heldBy("replica-a"), all) })
	stopA()
	if err := <-errA; err != nil {
		t.Fatalf("RunSharded(a) = %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.overlap != 0 {
		t.Errorf("%d times two replicas worked on one shard", rec.overlap)
	}
}

// TestShardsCrash: a replica whose API server calls all fail from one
// moment on (a crash, as the others see it: no renewal, no release, no
// goodbye) stops its work when its renewals fail, and the survivor takes
// its shards over by the stale-Lease path, not after a second
// LeaseDuration of an elector started late; never two on one shard.
func TestShardsCrash(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.EnsureNamespace(t, "ferry")
	const n = 4
	rec := newShardRecorder()
	var dead atomic.Bool
	cfg := rest.CopyConfig(c.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if dead.Load() {
				return nil, errors.New("crashed")
			}
			return rt.RoundTrip(r)
		})
	})
	crashing, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	optsA := leaderOpts(c, "replica-a")
	optsA.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	optsB := leaderOpts(c, "replica-b")
	optsB.Client = crashing

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() { errA <- RunSharded(ctx, ShardOptions{LeaderOptions: optsA, Shards: n}, rec.run("replica-a")) }()
	go func() { errB <- RunSharded(ctx, ShardOptions{LeaderOptions: optsB, Shards: n}, rec.run("replica-b")) }()
	eventually(t, "a and b hold 2 shards each", func() bool {
		return len(rec.heldBy("replica-a")) == 2 && len(rec.heldBy("replica-b")) == 2
	})
	lost := rec.heldBy("replica-b")
	dead.Store(true)
	eventually(t, "a holds every shard", func() bool { return slices.Equal(rec.heldBy("replica-a"), []int{0, 1, 2, 3}) })
	for _, i := range lost {
		if want := fmt.Sprintf(`msg="took over a shard Lease its holder stopped renewing" shard=%d from=replica-b`, i); !strings.Contains(logs.String(), want) {
			t.Errorf("shard %d was not taken over as a stale Lease; a's log:\n%s", i, logs.String())
		}
	}
	cancel()
	<-errA
	<-errB
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.overlap != 0 {
		t.Errorf("%d times two replicas worked on one shard", rec.overlap)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAssignShards: evenly spread, the same whatever the order of the
// members, and sticky: a death moves only the dead member's shards, a join
// only the newcomer's share.
func TestAssignShards(t *testing.T) {
	count := func(owners []string) map[string]int {
		m := map[string]int{}
		for _, o := range owners {
			m[o]++
		}
		return m
	}
	abc := []string{"a", "b", "c"}
	fresh := assignShards(abc, make([]string, 3))
	if got := count(fresh); got["a"] != 1 || got["b"] != 1 || got["c"] != 1 {
		t.Fatalf("3 members, 3 free shards: %v, want one each", fresh)
	}
	if again := assignShards([]string{"c", "a", "b", "a"}, make([]string, 3)); !slices.Equal(again, fresh) {
		t.Errorf("the members' order changed the assignment: %v vs %v", again, fresh)
	}
	// c dies: its shard goes to a or b, theirs stay.
	after := assignShards([]string{"a", "b"}, fresh)
	for i, o := range fresh {
		if o != "c" && after[i] != o {
			t.Errorf("shard %d moved from %s to %s when c died", i, o, after[i])
		}
		if after[i] == "c" || after[i] == "" {
			t.Errorf("shard %d left with %q after c died", i, after[i])
		}
	}
	// One replica held all 8 while alone; two join: it keeps 3 (its
	// highest-scoring), the others get the rest, nobody more than 3.
	alone := slices.Repeat([]string{"a"}, 8)
	joined := assignShards(abc, alone)
	got := count(joined)
	if got["a"] != 3 || got["b"]+got["c"] != 5 || got["b"] > 3 || got["c"] > 3 {
		t.Errorf("a held 8, b and c joined: %v (%v)", joined, got)
	}
	// A holder that is not live keeps nothing.
	if o := assignShards([]string{"a"}, []string{"gone", "a"}); !slices.Equal(o, []string{"a", "a"}) {
		t.Errorf("a dead holder's shard: %v, want [a a]", o)
	}
	if o := assignShards(nil, []string{"a"}); !slices.Equal(o, []string{""}) {
		t.Errorf("no members: %v", o)
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
