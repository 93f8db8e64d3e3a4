package backoff

import (
	"testing"
	"time"
)

// TestBackoffKeepsGoingAtTheCeiling: the delays double up to the ceiling
// and then stay there for as long as the caller retries; wait.Backoff with
// Cap set would have ended the series at the ceiling.
func TestBackoffKeepsGoingAtTheCeiling(t *testing.T) {
	r := New(50*time.Millisecond, 2*time.Second)
	var got []time.Duration
	for range 200 {
		got = append(got, r.Next())
	}
	for i, d := range got {
		want := min(50*time.Millisecond<<min(i, 10), 2*time.Second)
		if d < want || d > want+want/10 {
			t.Fatalf("delay %d = %s, want %s plus at most 10%% jitter (all: %v)", i+1, d, want, got[:8])
		}
	}
	if r.Count() != 200 {
		t.Fatalf("Count = %d, want 200", r.Count())
	}
}
