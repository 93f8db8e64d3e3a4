package kube

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/clock"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ShardOf is app's shard among shards: FNV-1a of its name, the same in every
// replica and across restarts (Go's maphash is seeded per process).
func ShardOf(app string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(app))
	return int(h.Sum32() % uint32(shards))
}

// ShardLease is the name of shard i's Lease.
func ShardLease(prefix string, i int) string { return prefix + "-shard-" + strconv.Itoa(i) }

// memberLabel marks the membership Leases of one set of shards.
const memberLabel = "ferry.dev/members"

// ShardOptions split apps across replicas: one Lease per shard, named
// ShardLease(Name, i), and a membership Lease per live replica. Shards are
// spread over live replicas by rendezvous hashing; each replica contends
// only for its share, and takes over a dead replica's share once its
// membership and shard Leases expired (within about two LeaseDurations).
type ShardOptions struct {
	LeaderOptions
	Shards int
}

// Shards tracks which shards this replica holds.
type Shards struct {
	o ShardOptions

	mu      sync.Mutex
	held    map[int]bool
	inUse   map[int]bool // shards a running consumer works on: not released until it stops
	changed chan struct{}
	cond    *sync.Cond
	members map[string]observed // membership Lease name -> last change seen
}

type observed struct {
	identity string
	version  string
	at       time.Time
}

// NewShards validates o.
func NewShards(o ShardOptions) (*Shards, error) {
	lo, err := o.LeaderOptions.withDefaults()
	if err != nil {
		return nil, err
	}
	o.LeaderOptions = lo
	if o.Shards < 1 {
		return nil, fmt.Errorf("shards: %d is not a number of shards (1 or more)", o.Shards)
	}
	s := &Shards{o: o, held: map[int]bool{}, inUse: map[int]bool{}, changed: make(chan struct{}), members: map[string]observed{}}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// Held lists the shards this replica holds now, in order.
func (s *Shards) Held() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return heldList(s.held)
}

func heldList(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for i, ok := range m {
		if ok {
			out = append(out, i)
		}
	}
	sort.Ints(out)
	return out
}

// Changed is closed when the held shards change.
func (s *Shards) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Shards) setHeld(i int, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[i] == on {
		return
	}
	if on {
		s.held[i] = true
	} else {
		delete(s.held, i)
	}
	// Closing wakes every waiter at once; the next change gets a new channel.
	close(s.changed)
	s.changed = make(chan struct{})
	s.o.Logger.Info("shards held", "shards", heldList(s.held), "identity", s.o.Identity)
}

// use marks the shards a consumer works on; nil when it stopped.
func (s *Shards) use(shards []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse = map[int]bool{}
	for _, i := range shards {
		s.inUse[i] = true
	}
	s.cond.Broadcast()
}

func (s *Shards) waitUnused(i int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.inUse[i] {
		s.cond.Wait()
	}
}

// Run keeps this replica's membership and contends for its share of the
// shards until ctx is done.
func (s *Shards) Run(ctx context.Context) error {
	o := s.o.LeaderOptions
	// Named by a hash: an identity may hold '_' (DefaultIdentity), which an
	// object name may not.
	self := o.Name + "-member-" + strconv.FormatUint(uint64(hash32(o.Identity)), 16)
	if err := preflight(ctx, o, self); err != nil {
		return err
	}
	electors := map[int]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range electors {
			stop()
		}
		wg.Wait()
		// Leave at once so the others take the shards over without waiting.
		del, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.RenewDeadline)
		defer cancel()
		_ = o.Client.CoordinationV1().Leases(o.Namespace).Delete(del, self, metav1.DeleteOptions{})
	}()
	for {
		live, err := s.heartbeat(ctx, self)
		// On an error the electors keep running: an API server blip must not
		// drop work, and the Leases expire by themselves if it lasts.
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.Logger.Warn("shard membership", "err", err)
		} else {
			for i := 0; i < s.o.Shards; i++ {
				mine := owner(live, i) == o.Identity
				stop, running := electors[i]
				switch {
				case mine && !running:
					ectx, cancel := context.WithCancel(ctx)
					electors[i] = cancel
					wg.Add(1)
					go func() {
						defer wg.Done()
						s.contend(ectx, i)
					}()
				case !mine && running:
					stop()
					delete(electors, i)
				}
			}
		}
		if clock.Sleep(ctx, o.RetryPeriod) != nil {
			return nil
		}
	}
}

// contend holds shard i whenever it wins its Lease, until ctx is done. On
// the way out the Lease is released only after the consumer stopped
// working on the shard.
func (s *Shards) contend(ctx context.Context, i int) {
	o := s.o.LeaderOptions
	for ctx.Err() == nil {
		_, err := electOnce(ctx, o, ShardLease(o.Name, i), func(lead context.Context) {
			s.setHeld(i, true)
			<-lead.Done()
			s.setHeld(i, false)
			s.waitUnused(i)
		})
		if err != nil {
			o.Logger.Error("shard election", "shard", i, "err", err)
			_ = clock.Sleep(ctx, o.RetryPeriod)
		}
	}
}

// heartbeat renews this replica's membership Lease and lists the identities
// of live members: those whose Lease changed within LeaseDuration, as seen
// by this replica's clock (no trust in other clocks).
func (s *Shards) heartbeat(ctx context.Context, self string) ([]string, error) {
	o := s.o.LeaderOptions
	leases := o.Client.CoordinationV1().Leases(o.Namespace)
	now := metav1.NowMicro()
	// Rounded up: the Lease must not claim less than LeaseDuration.
	secs := int32((o.LeaseDuration + time.Second - 1) / time.Second)
	l, err := leases.Get(ctx, self, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: self, Namespace: o.Namespace, Labels: map[string]string{memberLabel: o.Name}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &o.Identity, LeaseDurationSeconds: &secs, RenewTime: &now}}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
	case err == nil:
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &o.Identity, &secs, &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("renew membership Lease %s/%s: %w", o.Namespace, self, err)
	}
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: memberLabel + "=" + o.Name})
	if err != nil {
		return nil, fmt.Errorf("list membership Leases in %s: %w", o.Namespace, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	live := []string{o.Identity}
	t := time.Now()
	for _, m := range list.Items {
		if m.Spec.HolderIdentity == nil || m.Name == self {
			continue
		}
		seen[m.Name] = true
		prev, ok := s.members[m.Name]
		if !ok || prev.version != m.ResourceVersion {
			prev = observed{identity: *m.Spec.HolderIdentity, version: m.ResourceVersion, at: t}
			s.members[m.Name] = prev
		}
		age := t.Sub(prev.at)
		switch {
		case age < o.LeaseDuration:
			live = append(live, prev.identity)
		case age > 4*o.LeaseDuration:
			// A replica long gone: tidy its membership away. The version
			// precondition spares one that renewed since the List.
			_ = leases.Delete(ctx, m.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &m.ResourceVersion}})
		}
	}
	for name := range s.members {
		if !seen[name] {
			delete(s.members, name)
		}
	}
	return live, nil
}

// owner is the live member shard i belongs to: highest rendezvous hash,
// so a replica joining or leaving moves only its own share. Ties go to the
// smaller identity, so every replica picks the same owner.
func owner(live []string, i int) string {
	best, bestH := "", uint32(0)
	for _, id := range live {
		h := hash32(id + "/" + strconv.Itoa(i))
		if best == "" || h > bestH || (h == bestH && id < best) {
			best, bestH = id, h
		}
	}
	return best
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// RunSharded calls run with the shards this replica holds, restarting it
// whenever they change (not at all while it holds none), until ctx is done.
// A shard given up is released only after run stopped, so two replicas
// never work on one shard on a clean handover.
func RunSharded(ctx context.Context, o ShardOptions, run func(ctx context.Context, shards []int)) error {
	s, err := NewShards(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	for {
		changed := s.Changed()
		held := s.Held()
		var done chan struct{}
		runCtx, stop := context.WithCancel(ctx)
		if len(held) > 0 {
			// Marked in use before run starts, so a lost shard's Lease waits
			// for run to stop.
			s.use(held)
			done = make(chan struct{})
			go func() {
				defer close(done)
				run(runCtx, held)
			}()
		}
		var runErr error
		exit, stopped := false, false
		select {
		case <-changed:
		case <-done:
			exit = true // run returned on its own
		case runErr = <-errc:
			exit, stopped = true, true
		case <-ctx.Done():
			exit = true
		}
		stop()
		if done != nil {
			<-done
		}
		s.use(nil)
		if exit {
			cancel()
			if !stopped {
				runErr = <-errc
			}
			return runErr
		}
	}
}
