package registry

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowFallbackReads delays the first reads of the sha256-<hex> fallback
// tag, so concurrent attaches all read the list before any writes it: the
// race CI jobs attaching their scans in parallel run into on distribution.
type slowFallbackReads struct {
	next  http.Handler
	slow  int64 // how many reads to delay
	reads atomic.Int64
}

func (h *slowFallbackReads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256-") && h.reads.Add(1) <= h.slow {
		time.Sleep(150 * time.Millisecond)
	}
	h.next.ServeHTTP(w, r)
}

// TestAttachConcurrentKeepsEvery: attaches racing on a registry without
// the referrers API each end with their artifact listed; none is lost to
// another writer's list update while reporting success.
func TestAttachConcurrentKeepsEvery(t *testing.T) {
	const writers = 4
	host := serve(t, &noReferrers{next: &slowFallbackReads{next: newReferrersRegistry(), slow: writers}})
	repo := host + "/shop/checkout"
	subject := digestOf(t, push(t, repo+":1.4.2"))
	c := NewClient(Options{RequestsPerSecond: -1})

	var wg sync.WaitGroup
	digests := make([]string, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			digests[i], errs[i] = c.Attach(t.Context(), repo, subject, trivyType, report(i), nil, false)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("attach %d: %v", i, err)
		}
	}
	got, err := c.Referrers(t.Context(), repo, subject, []string{trivyType}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, a := range got {
		listed[a.Digest] = true
	}
	for i, d := range digests {
		if !listed[d] {
			t.Errorf("attach %d reported %s, which the referrers list lost (it holds %d of %d)", i, d, len(got), writers)
		}
	}
}
