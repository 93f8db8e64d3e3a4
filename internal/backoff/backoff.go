// Package backoff is the delays between retries: wait.Backoff's doubling
// with jitter, held at a ceiling for as long as the caller goes on.
package backoff

import (
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// New is wait.Backoff from first, doubling, with 10% jitter, held at
// ceiling by Next. It is not given wait.Backoff's own Cap: reaching Cap
// ends that sequence (Steps drops to 0), which made rollbacks meant to be
// retried for minutes give up after seven tries in four seconds.
func New(first, ceiling time.Duration) *Backoff {
	return &Backoff{b: wait.Backoff{Duration: first, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32}, ceiling: ceiling}
}

// Backoff hands out the delays of one series of retries.
type Backoff struct {
	b       wait.Backoff
	ceiling time.Duration
	n       int
}

// Next is the delay before the next try: doubled each call up to the
// ceiling, then the ceiling (each up to 10% longer, so that many
// retriers spread out).
func (r *Backoff) Next() time.Duration {
	r.n++
	d := r.b.Step()
	if r.b.Duration > r.ceiling {
		r.b.Duration = r.ceiling
	}
	return d
}

// Count is how many delays Next has handed out.
func (r *Backoff) Count() int { return r.n }
