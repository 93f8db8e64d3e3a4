package kube

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
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
// membership and shard Leases went unrenewed for LeaseDuration (plus up to
// two RetryPeriods: the replicas look every RetryPeriod).
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
	// leases is every shard Lease as last listed, and when this replica
	// first saw its current version: watched from the start, a dead
	// holder's Lease is known stale LeaseDuration after its last renewal,
	// where a new elector would wait a LeaseDuration more.
	leases map[int]seenLease
}

type seenLease struct {
	lease *coordinationv1.Lease
	at    time.Time
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
	s := &Shards{o: o, held: map[int]bool{}, inUse: map[int]bool{}, changed: make(chan struct{}), members: map[string]observed{}, leases: map[int]seenLease{}}
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
	var renewed time.Time
	for {
		// The Leases are listed twice per RetryPeriod, the membership
		// renewed once: a dead replica is seen sooner, for the same writes.
		renew := time.Since(renewed) >= o.RetryPeriod*3/4
		live, err := s.heartbeat(ctx, self, renew)
		if err == nil && renew {
			renewed = time.Now()
		}
		// On an error the electors keep running: an API server blip must not
		// drop work, and the Leases expire by themselves if it lasts.
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			o.Logger.Warn("shard membership", "err", err)
		} else {
			owners := s.assign(live)
			for i := 0; i < s.o.Shards; i++ {
				mine := owners[i] == o.Identity
				stop, running := electors[i]
				switch {
				case mine && running && !s.holds(i):
					// A standby elector (its Lease was lost, or another
					// replica won it): a stale Lease is taken at once, and
					// the elector finds itself the holder on its next try.
					s.claim(ctx, i)
				case mine && !running:
					// Held by a replica still renewing it: wait until it lets
					// go (it does once it sees this replica live) or stops
					// renewing, not in an elector that would only start
					// counting the Lease's age now.
					if !s.claim(ctx, i) {
						continue
					}
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
		if clock.Sleep(ctx, s.untilNext(o.RetryPeriod/2)) != nil {
			return nil
		}
	}
}

func (s *Shards) holds(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[i]
}

// claim says whether this replica may contend for shard i's Lease at once:
// there is none yet, nobody holds it, this replica does, or its holder has
// not renewed it for a LeaseDuration as seen from here, in which case claim
// takes it over first (the same test a client-go standby makes, from a
// watch that started long before a standby would).
func (s *Shards) claim(ctx context.Context, i int) bool {
	o := s.o.LeaderOptions
	s.mu.Lock()
	seen, ok := s.leases[i]
	s.mu.Unlock()
	if !ok {
		return true // the elector creates it
	}
	holder := ""
	if h := seen.lease.Spec.HolderIdentity; h != nil {
		holder = *h
	}
	if holder == "" || holder == o.Identity {
		return true
	}
	// The longer of the two durations: a holder configured with a longer
	// one still counts on it.
	valid := o.LeaseDuration
	if d := seen.lease.Spec.LeaseDurationSeconds; d != nil && time.Duration(*d)*time.Second > valid {
		valid = time.Duration(*d) * time.Second
	}
	age := time.Since(seen.at)
	if age < valid {
		return false
	}
	l := seen.lease.DeepCopy()
	now := metav1.NowMicro()
	secs := int32((o.LeaseDuration + time.Second - 1) / time.Second)
	transitions := int32(1)
	if t := l.Spec.LeaseTransitions; t != nil {
		transitions = *t + 1
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.AcquireTime, l.Spec.RenewTime, l.Spec.LeaseTransitions = &o.Identity, &secs, &now, &now, &transitions
	// The listed resourceVersion is the precondition: a renewal or another
	// taker since the List makes this a conflict, and the Lease is looked
	// at again on the next heartbeat.
	if _, err := o.Client.CoordinationV1().Leases(o.Namespace).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		o.Logger.Info("shard Lease not taken over", "shard", i, "holder", holder, "err", err)
		return false
	}
	o.Logger.Info("took over a shard Lease its holder stopped renewing", "shard", i, "from", holder,
		"unrenewed", age.Round(time.Millisecond), "identity", o.Identity)
	return true
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
func (s *Shards) heartbeat(ctx context.Context, self string, renew bool) ([]string, error) {
	o := s.o.LeaderOptions
	leases := o.Client.CoordinationV1().Leases(o.Namespace)
	if renew {
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
	}
	// One List for the membership and the shard Leases: the namespace is
	// ferry's own, and the shard Leases (created by client-go) have no label.
	list, err := leases.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Leases in %s: %w", o.Namespace, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	live := []string{o.Identity}
	t := time.Now()
	for k := range list.Items {
		m := &list.Items[k]
		if i, ok := s.shardIndex(m.Name); ok {
			if prev, ok := s.leases[i]; !ok || prev.lease.ResourceVersion != m.ResourceVersion {
				s.leases[i] = seenLease{lease: m, at: t}
			}
			continue
		}
		if m.Labels[memberLabel] != o.Name || m.Spec.HolderIdentity == nil || m.Name == self {
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

// untilNext is how long to wait before looking at the Leases again: at
// most max, less when another replica's membership or shard Lease is due
// to expire sooner, so its shards are taken over when it does, not up to
// a period later.
func (s *Shards) untilNext(max time.Duration) time.Duration {
	o := s.o.LeaderOptions
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	wait := max
	due := func(at time.Time) {
		// 5 ms past it: the age must be at least the duration then.
		if d := at.Sub(now) + 5*time.Millisecond; d > 0 && d < wait {
			wait = d
		}
	}
	for _, m := range s.members {
		due(m.at.Add(o.LeaseDuration))
	}
	for _, l := range s.leases {
		if h := l.lease.Spec.HolderIdentity; h != nil && *h != "" && *h != o.Identity {
			due(l.at.Add(o.LeaseDuration))
		}
	}
	return wait
}

// shardIndex is i when name is ShardLease(Name, i) for one of the shards.
func (s *Shards) shardIndex(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, s.o.Name+"-shard-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	if err != nil || i < 0 || i >= s.o.Shards || ShardLease(s.o.Name, i) != name {
		return 0, false
	}
	return i, true
}

// assign is assignShards over the holders of the shard Leases as last
// listed.
func (s *Shards) assign(live []string) []string {
	holders := make([]string, s.o.Shards)
	s.mu.Lock()
	for i, l := range s.leases {
		if h := l.lease.Spec.HolderIdentity; h != nil {
			holders[i] = *h
		}
	}
	s.mu.Unlock()
	return assignShards(live, holders)
}

// assignShards gives each shard (holders[i] holds shard i, "" none) to a
// live member, at most ceil(shards/members) each, so 3 replicas of
// --shards 3 run one shard each rather than what a bare hash happens to
// give (one replica may win all three). A shard stays with a live holder
// that has room: a death moves only the dead replica's shards, a join only
// the newcomer's share. The others go by rendezvous hash to the
// highest-scoring member with room. Every replica computes the same from
// the same Leases; while their views differ, the Leases decide.
func assignShards(live, holders []string) []string {
	ids := slices.Compact(slices.Sorted(slices.Values(live)))
	out := make([]string, len(holders))
	if len(ids) == 0 {
		return out
	}
	room := (len(holders) + len(ids) - 1) / len(ids)
	load := map[string]int{}
	score := func(id string, i int) uint32 { return hash32(id + "/" + strconv.Itoa(i)) }
	// A holder over its room (it ran alone before the others joined)
	// keeps the shards it scores highest on.
	var kept []int
	for i, h := range holders {
		if _, ok := slices.BinarySearch(ids, h); ok {
			kept = append(kept, i)
		}
	}
	sort.SliceStable(kept, func(a, b int) bool { return score(holders[kept[a]], kept[a]) > score(holders[kept[b]], kept[b]) })
	for _, i := range kept {
		if h := holders[i]; load[h] < room {
			out[i] = h
			load[h]++
		}
	}
	for i := range out {
		if out[i] != "" {
			continue
		}
		best, bestH := "", uint32(0)
		for _, id := range ids { // sorted: ties go to the smaller identity
			if h := score(id, i); load[id] < room && (best == "" || h > bestH) {
				best, bestH = id, h
			}
		}
		out[i] = best
		load[best]++
	}
	return out
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
