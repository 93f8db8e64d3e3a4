package webhook

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDeduper(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 21, 0, 0, 0, time.UTC)
	firing := AlertEvent{Fingerprint: "a", Status: StatusFiring, StartsAt: t0}
	resolved := AlertEvent{Fingerprint: "a", Status: StatusResolved, StartsAt: t0}
	refired := AlertEvent{Fingerprint: "a", Status: StatusFiring, StartsAt: t0.Add(time.Hour)}
	other := AlertEvent{Fingerprint: "b", Status: StatusFiring, StartsAt: t0}
	third := AlertEvent{Fingerprint: "c", Status: StatusFiring, StartsAt: t0}
	type step struct {
		after time.Duration // clock advance before the call
		ev    AlertEvent
		seen  bool
	}
	tests := []struct {
		name  string
		ttl   time.Duration
		max   int
		steps []step
	}{
		{"same alert twice", 0, 0, []step{{0, firing, false}, {time.Minute, firing, true}}},
		{"other fingerprint", 0, 0, []step{{0, firing, false}, {0, other, false}, {0, other, true}}},
		{"resolved after firing is new", 0, 0, []step{{0, firing, false}, {0, resolved, false}, {0, resolved, true}, {0, firing, true}}},
		{"firing again with a new startsAt is new", 0, 0, []step{{0, firing, false}, {0, refired, false}, {0, refired, true}}},
		{"same instant in another zone is the same", 0, 0, []step{{0, firing, false}, {0, AlertEvent{Fingerprint: "a", Status: StatusFiring, StartsAt: t0.In(time.FixedZone("CET", 3600))}, true}}},
		{"default TTL expires", 0, 0, []step{{0, firing, false}, {DefaultDedupeTTL - time.Nanosecond, other, false}, {time.Nanosecond, firing, false}}},
		{"custom TTL expires", time.Minute, 0, []step{{0, firing, false}, {time.Minute, firing, false}, {59 * time.Second, firing, true}}},
		{"each resend keeps it remembered", time.Minute, 0, []step{{0, firing, false}, {50 * time.Second, firing, true}, {50 * time.Second, firing, true}, {50 * time.Second, firing, true}}},
		{"least recently seen is forgotten first", 0, 2, []step{{0, firing, false}, {0, other, false}, {0, firing, true}, {0, third, false}, {0, firing, true}, {0, other, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			d := &Deduper{TTL: tt.ttl, MaxEntries: tt.max, Now: clock.Now}
			for i, s := range tt.steps {
				clock.Advance(s.after)
				if got := d.Seen(s.ev); got != s.seen {
					t.Fatalf("step %d: Seen(%s %s %s) = %v, want %v", i, s.ev.Fingerprint, s.ev.Status, s.ev.StartsAt, got, s.seen)
				}
			}
			if tt.max > 0 && d.Len() > tt.max {
				t.Errorf("remembers %d alerts, more than %d", d.Len(), tt.max)
			}
		})
	}
}

func TestDeduperForgetsExpired(t *testing.T) {
	clock := &fakeClock{now: time.Unix(0, 0)}
	d := &Deduper{TTL: time.Minute, Now: clock.Now}
	for _, fp := range []string{"a", "b", "c"} {
		d.Seen(AlertEvent{Fingerprint: fp, Status: StatusFiring})
	}
	clock.Advance(time.Minute)
	d.Seen(AlertEvent{Fingerprint: "d", Status: StatusFiring})
	if d.Len() != 1 {
		t.Errorf("remembers %d alerts after the TTL, want only the new one", d.Len())
	}
}

func TestDeduperForget(t *testing.T) {
	d := &Deduper{}
	ev := AlertEvent{Fingerprint: "a", Status: StatusFiring}
	d.Forget(ev) // unknown: nothing to do
	if d.Seen(ev) {
		t.Fatal("new alert seen")
	}
	d.Forget(ev)
	if d.Seen(ev) || !d.Seen(ev) {
		t.Error("a forgotten alert is not new exactly once")
	}
}

// TestDeduperConcurrent: of simultaneous notifications of one alert,
// exactly one is new.
func TestDeduperConcurrent(t *testing.T) {
	d := &Deduper{}
	ev := AlertEvent{Fingerprint: fpCheckoutProd, Status: StatusFiring}
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if !d.Seen(ev) {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Errorf("%d calls saw the alert as new, want 1", fresh.Load())
	}
}
