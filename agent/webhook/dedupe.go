package webhook

import (
	"container/list"
	"sync"
	"time"
)

// Deduper defaults.
const (
	DefaultDedupeTTL     = time.Hour
	DefaultDedupeEntries = 10_000
)

// Deduper tells a new alert from one already handed on. Alertmanager
// resends a group's alerts every group_interval while it changes and every
// repeat_interval while it fires; an alert is the same when its
// fingerprint, status and startsAt are, so a resolved alert after a firing
// one, or a new firing of the same labels, is new.
//
// The zero value is ready to use; set the fields before the first Seen.
// Safe for concurrent use.
type Deduper struct {
	// TTL is how long an alert is remembered after it was last seen;
	// DefaultDedupeTTL when zero. Keep it above the receiver's
	// repeat_interval to swallow every resend.
	TTL time.Duration
	// MaxEntries bounds memory (DefaultDedupeEntries when zero); past it
	// the alert seen least recently is forgotten.
	MaxEntries int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu    sync.Mutex
	index map[dedupeKey]*list.Element
	order list.List // of *dedupeEntry, least recently seen first
}

type dedupeKey struct {
	fingerprint, status string
	startsAt            int64 // UnixNano: time.Time's location would split keys
}

func keyOf(ev AlertEvent) dedupeKey {
	return dedupeKey{fingerprint: ev.Fingerprint, status: ev.Status, startsAt: ev.StartsAt.UnixNano()}
}

type dedupeEntry struct {
	key      dedupeKey
	lastSeen time.Time
}

// Seen reports whether ev was seen within the TTL, and remembers it either
// way: only the first of concurrent calls for one alert returns false.
func (d *Deduper) Seen(ev AlertEvent) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	ttl, size := d.TTL, d.MaxEntries
	if ttl <= 0 {
		ttl = DefaultDedupeTTL
	}
	if size <= 0 {
		size = DefaultDedupeEntries
	}
	if d.index == nil {
		d.index = make(map[dedupeKey]*list.Element)
	}
	// Entries are ordered by lastSeen, so the expired ones are in front.
	for e := d.order.Front(); e != nil && !now.Before(e.Value.(*dedupeEntry).lastSeen.Add(ttl)); e = d.order.Front() {
		d.forget(e)
	}
	key := keyOf(ev)
	if e, ok := d.index[key]; ok {
		e.Value.(*dedupeEntry).lastSeen = now
		d.order.MoveToBack(e)
		return true
	}
	d.index[key] = d.order.PushBack(&dedupeEntry{key: key, lastSeen: now})
	for d.order.Len() > size {
		d.forget(d.order.Front())
	}
	return false
}

// Forget drops ev, so that its next notification counts as new: for a
// caller that could not act on it and relies on Alertmanager's resend.
func (d *Deduper) Forget(ev AlertEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.index[keyOf(ev)]; ok {
		d.forget(e)
	}
}

// Len is the number of alerts remembered.
func (d *Deduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

func (d *Deduper) forget(e *list.Element) {
	delete(d.index, e.Value.(*dedupeEntry).key)
	d.order.Remove(e)
}
