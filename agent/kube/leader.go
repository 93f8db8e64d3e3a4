package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// DefaultLeaseDuration is how long a standby waits, after the leader's last
// renewal it saw, before it takes over. 15 s is client-go's and the
// Kubernetes controllers' usual value.
const DefaultLeaseDuration = 15 * time.Second

// LeaderOptions name a coordination.k8s.io Lease and who contends for it.
type LeaderOptions struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	// Identity is this replica's name in the Lease; default DefaultIdentity().
	Identity string
	// LeaseDuration bounds a failover: the leader renews every
	// RetryPeriod, gives up after RenewDeadline without a renewal, and a
	// standby takes over LeaseDuration after the last renewal it saw.
	// Default 15s; the others default to 2/3 and 1/6 of it.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// DefaultIdentity is $POD_NAME, else the host name, with a random suffix so
// two processes on one host never share an identity.
func DefaultIdentity() string {
	name := os.Getenv("POD_NAME")
	if name == "" {
		name, _ = os.Hostname()
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return cmpOr(name, "ferry") + "_" + hex.EncodeToString(b[:])
}

func (o LeaderOptions) withDefaults() (LeaderOptions, error) {
	if o.Client == nil || o.Namespace == "" || o.Name == "" {
		return o, fmt.Errorf("leader election: a client, a namespace and a Lease name are required")
	}
	if o.Identity == "" {
		o.Identity = DefaultIdentity()
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = DefaultLeaseDuration
	}
	// The controllers' proportions (15 s, 10 s, about 2 s): the leader
	// gives up well before a standby may take over, so two never write.
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = o.LeaseDuration * 2 / 3
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = o.LeaseDuration / 6
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// preflight reads the Lease once so that a forbidden verb or an unreachable
// API server is a clear error, not an election retried forever.
func preflight(ctx context.Context, o LeaderOptions, name string) error {
	// Not found is fine: the elector creates the Lease.
	_, err := o.Client.CoordinationV1().Leases(o.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: read Lease %s/%s: %w", ErrAccess, o.Namespace, name, err)
	}
	return nil
}

// RunElected calls run while this replica holds the Lease, and contends
// again when it loses it, until ctx is done or run returns on its own. run's
// ctx is cancelled when the lease is lost or ctx is done; the Lease is
// released (so a standby takes over at once) only after run returned, so
// two replicas never write at the same time on a clean handover.
func RunElected(ctx context.Context, o LeaderOptions, run func(ctx context.Context)) error {
	o, err := o.withDefaults()
	if err != nil {
		return err
	}
	if err := preflight(ctx, o, o.Name); err != nil {
		return err
	}
	// Losing the lease (an API server blip) means standing by, not exiting.
	for ctx.Err() == nil {
		finished, err := electOnce(ctx, o, o.Name, run)
		if err != nil || finished {
			return err
		}
		o.Logger.Warn("lost the ferry lease; standing by", "lease", o.Namespace+"/"+o.Name, "identity", o.Identity)
	}
	return nil
}

// electOnce contends for one Lease, runs run while leading and returns when
// leadership ends: finished is true when run returned with ctx alive.
func electOnce(ctx context.Context, o LeaderOptions, name string, run func(ctx context.Context)) (finished bool, err error) {
	// The elector's own context outlives ctx until run has returned: then
	// the release cannot happen while run still writes.
	electCtx, stopElect := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElect()
	var (
		mu      sync.Mutex
		running bool // run was started: done will be closed
		over    bool // the elector returned: run must not start
		done    = make(chan struct{})
	)
	waitRun := func() {
		mu.Lock()
		r := running
		mu.Unlock()
		if r {
			<-done
		}
	}
	stopOnCancel := context.AfterFunc(ctx, func() {
		waitRun() // run sees ctx cancelled; once it returned, release
		stopElect()
	})
	defer stopOnCancel()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: name},
		Client:     o.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				// A late callback must not start run: nobody would wait for
				// it before the Lease is released.
				mu.Lock()
				if over || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				running = true
				mu.Unlock()
				defer close(done)
				runCtx, cancel := context.WithCancel(leadCtx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
				o.Logger.Info("leading", "lease", o.Namespace+"/"+name, "identity", o.Identity)
				run(runCtx)
				if ctx.Err() == nil && leadCtx.Err() == nil {
					finished = true
				}
				stopElect() // run is over: release the Lease
			},
			// run's ctx already carries the loss of the lease.
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				if id != o.Identity {
					o.Logger.Info("standing by", "lease", o.Namespace+"/"+name, "leader", id, "identity", o.Identity)
				}
			},
		},
	})
	if err != nil {
		return false, fmt.Errorf("leader election on Lease %s/%s: %w", o.Namespace, name, err)
	}
	le.Run(electCtx)
	mu.Lock()
	over = true
	mu.Unlock()
	waitRun()
	return finished, nil
}
