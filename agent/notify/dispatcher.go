package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/clock"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Options tune a Dispatcher. Zero values take the defaults.
type Options struct {
	QueueSize int           // events queued per sender; default 256
	Retries   int           // retries after a failed send; default 5, negative for none
	Backoff   time.Duration // first wait before a retry, doubling with jitter up to maxBackoff; default 1s
	Timeout   time.Duration // bound on one send; default 10s
	Logger    *slog.Logger  // default slog.Default()
	// Kinds says which sender gets which kinds. A sender missing from it
	// (or with an empty list), or a nil Kinds, gets every kind.
	Kinds map[string][]Kind
}

// maxBackoff caps the wait between retries.
const maxBackoff = time.Minute

// Stats count deliveries: one per event and sender it was meant for.
type Stats struct {
	Sent    uint64 // delivered
	Failed  uint64 // given up: retries exhausted or a permanent error
	Dropped uint64 // never delivered: queue full, notified after Close, or cut off by Close's deadline
	Retries uint64 // failed attempts that were tried again
}

// Dispatcher delivers events to senders in the background. Each sender has
// its own queue and worker, so a slow or dead one delays nobody else, and
// Notify never waits for any of them.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	workers []*worker

	mu      sync.RWMutex // guards closed and started against Notify and Close
	closed  bool
	started bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when every worker has returned

	sent, failed, dropped, retries atomic.Uint64
	abandoned                      atomic.Uint64 // dropped by Close or a cancelled Start
}

type worker struct {
	name  string
	s     Sender
	kinds map[Kind]bool // nil: every kind
	q     chan Event
}

// NewDispatcher returns a Dispatcher for senders, keyed by a name used in
// logs and in opts.Kinds. Call Start to deliver and Close to finish.
func NewDispatcher(senders map[string]Sender, opts Options) *Dispatcher {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Retries == 0 {
		opts.Retries = 5
	} else if opts.Retries < 0 {
		opts.Retries = 0
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	d := &Dispatcher{opts: opts, log: opts.Logger, done: make(chan struct{})}
	names := make([]string, 0, len(senders))
	for name := range senders {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if senders[name] == nil {
			d.log.Error("notify: nil sender ignored", "sender", name)
			continue
		}
		w := &worker{name: name, s: senders[name], q: make(chan Event, opts.QueueSize)}
		if ks := opts.Kinds[name]; len(ks) > 0 {
			w.kinds = make(map[Kind]bool, len(ks))
			for _, k := range ks {
				w.kinds[k] = true
			}
		}
		d.workers = append(d.workers, w)
	}
	for name := range opts.Kinds {
		if senders[name] == nil {
			d.log.Warn("notify: kinds given for an unknown sender", "sender", name)
		}
	}
	return d
}

// Notify queues ev for every sender that takes its kind and returns at
// once: when a sender's queue is full, or the Dispatcher is closed, the
// event is dropped for it, logged and counted.
func (d *Dispatcher) Notify(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, w := range d.workers {
		if w.kinds != nil && !w.kinds[ev.Kind] {
			continue
		}
		if d.closed {
			d.drop(w.name, ev, "dispatcher closed")
			continue
		}
		select {
		case w.q <- ev:
		default:
			d.drop(w.name, ev, "queue full")
		}
	}
}

// abandon drops an event taken in but not delivered because ferry is
// stopping.
func (d *Dispatcher) abandon(sender string, ev Event) {
	d.abandoned.Add(1)
	d.drop(sender, ev, "stopping before delivery")
}

func (d *Dispatcher) drop(sender string, ev Event, why string) {
	d.dropped.Add(1)
	d.log.Warn("notify: event dropped", "sender", sender, "why", why,
		"kind", ev.Kind, "app", ev.App, "env", ev.Env, "version", ev.Version)
}

// Start runs one worker per sender until Close, or until ctx ends (what is
// still queued then is dropped at Close). A second Start does nothing.
func (d *Dispatcher) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.closed {
		return
	}
	d.started = true
	ctx, d.cancel = context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range d.workers {
		wg.Go(func() { d.run(ctx, w) })
	}
	go func() {
		wg.Wait()
		close(d.done)
	}()
}

// Close stops taking events and delivers what is queued, retries included,
// until ctx ends; then it abandons the rest, counting it as dropped, and
// returns ctx's error. Notify after Close drops.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for _, w := range d.workers {
		close(w.q)
	}
	started := d.started
	d.mu.Unlock()

	var err error
	if started {
		select {
		case <-d.done:
		case <-ctx.Done():
			err = ctx.Err()
			d.cancel()
			<-d.done // workers return promptly once cancelled
		}
		d.cancel()
	}
	for _, w := range d.workers {
		for ev := range w.q {
			d.abandon(w.name, ev)
		}
	}
	if err != nil {
		return fmt.Errorf("notify: close: %d deliveries abandoned: %w", d.abandoned.Load(), err)
	}
	return nil
}

// Stats returns the counters so far.
func (d *Dispatcher) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load(), Retries: d.retries.Load()}
}

func (d *Dispatcher) run(ctx context.Context, w *worker) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.q:
			if !ok {
				return
			}
			d.deliver(ctx, w, ev)
		}
	}
}

// deliver sends ev with retries; it returns early only when ctx ends.
func (d *Dispatcher) deliver(ctx context.Context, w *worker, ev Event) {
	log := d.log.With("sender", w.name, "kind", ev.Kind, "app", ev.App, "env", ev.Env, "version", ev.Version)
	bo := newBackoff(d.opts.Backoff)
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			d.abandon(w.name, ev)
			return
		}
		err := d.send(ctx, w.s, ev)
		switch {
		case err == nil:
			d.sent.Add(1)
			log.Debug("notify: sent", "attempts", attempt+1)
			return
		case ctx.Err() != nil:
			d.abandon(w.name, ev)
			return
		case IsPermanent(err) || attempt >= d.opts.Retries:
			d.failed.Add(1)
			log.Error("notify: giving up", "attempts", attempt+1, "err", err)
			return
		}
		d.retries.Add(1)
		wait := bo.Step()
		log.Warn("notify: send failed, will retry", "attempt", attempt+1, "in", wait, "err", err)
		_ = clock.Sleep(ctx, wait) // a cancelled ctx abandons the event at the loop's top
	}
}

// send makes one attempt, bounded by the per-send timeout. A sender that
// panics fails this event instead of taking the agent down.
func (d *Dispatcher) send(ctx context.Context, s Sender, ev Event) (err error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = Permanent(fmt.Errorf("sender panicked: %v", r))
		}
	}()
	return s.Send(ctx, ev)
}

// newBackoff is base doubled per attempt up to maxBackoff (a base above
// it is kept), with "equal jitter": half fixed, half random, so retries of
// many events spread out. wait.Backoff adds [0, Jitter×d] to d, so it
// starts from half of base with a jitter of 1.
func newBackoff(base time.Duration) wait.Backoff {
	return wait.Backoff{Duration: base / 2, Factor: 2, Jitter: 1, Cap: max(base, maxBackoff) / 2, Steps: math.MaxInt32}
}
