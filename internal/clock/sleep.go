// Package clock holds the one context-aware wait every retry and poll of
// ferry uses (registry 429s, cluster polls, lease retries, analysis
// intervals, notification backoff); the backoff durations themselves come
// from apimachinery's wait.Backoff.
package clock

import (
	"context"
	"time"
)

// Sleep waits d, or less when ctx ends first (then it returns ctx's
// error). A d of zero or less only reports ctx's state.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
