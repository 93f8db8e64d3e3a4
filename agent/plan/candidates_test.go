package plan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// tagRegistry answers from a fixed tag -> digest table.
type tagRegistry map[string]string

func (r tagRegistry) Tags(context.Context, string, bool) ([]string, error) {
	var out []string
	for t := range r {
		out = append(out, t)
	}
	return out, nil
}

func (r tagRegistry) Resolve(_ context.Context, _ string, tag string, _ bool) (registry.Descriptor, error) {
	return registry.Descriptor{Digest: r[tag]}, nil
}

// signedDigests trusts the digests it lists, and counts what it was asked.
type signedDigests struct {
	signed map[string]bool
	err    error
	asked  atomic.Int32
}

func (s *signedDigests) Verify(_ context.Context, img trust.Image) (trust.Result, error) {
	s.asked.Add(1)
	if s.err != nil {
		return trust.Result{}, s.err
	}
	if s.signed[img.Digest] {
		return trust.Result{Signatures: []trust.Signature{{Kind: trust.KindCosign, Signer: "SHA256:test", Key: "cosign.pub"}}}, nil
	}
	return trust.Result{Problems: []string{"signature by SHA256:other does not verify with cosign.pub"}}, nil
}

func digestOf(i int) string { return fmt.Sprintf("sha256:%064x", i) }

func TestPollerTakesNewestTrustedTag(t *testing.T) {
	app := &config.App{Name: "web", Image: "127.0.0.1:5000/web", Tags: config.TagPolicy{Semver: ">=1.0.0"},
		Verify: &config.ImageTrust{Cosign: &config.CosignTrust{Keys: []string{"cosign.pub"}}}}
	sel, err := registry.NewSelector(registry.TagPolicy{Semver: app.Tags.Semver})
	if err != nil {
		t.Fatal(err)
	}
	reg := tagRegistry{"1.0.0": digestOf(0), "1.1.0": digestOf(1), "1.2.0": digestOf(2), "v1.3.0": digestOf(3), "latest": digestOf(4)}
	tests := []struct {
		name          string
		signed        []int
		err           error
		wantTag       string
		wantUntrusted []string
		wantErr       string
	}{
		{name: "newest signed", signed: []int{3, 1}, wantTag: "v1.3.0"},
		{name: "newer unsigned passed over", signed: []int{1}, wantTag: "1.1.0", wantUntrusted: []string{"v1.3.0", "1.2.0"}},
		{name: "none signed", wantUntrusted: []string{"v1.3.0", "1.2.0", "1.1.0", "1.0.0"}, wantErr: "no tag of 127.0.0.1:5000/web carries a signature that verifies"},
		// An unreadable signature must not let an older tag win.
		{name: "registry unreadable", signed: []int{1}, err: errors.New("connection refused"), wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &signedDigests{signed: map[string]bool{}, err: tt.err}
			for _, i := range tt.signed {
				v.signed[digestOf(i)] = true
			}
			p := &Poller{Registry: reg, Trust: trust.NewChecker(map[string][]trust.Verifier{"web": {v}})}
			c := p.lookupOne(context.Background(), app, sel)
			if c.Version.Tag != tt.wantTag {
				t.Errorf("candidate %q, want %q", c.Version.Tag, tt.wantTag)
			}
			if tt.wantTag != "" && len(c.Signatures) != 1 {
				t.Errorf("signatures %v, want the verified one", c.Signatures)
			}
			var untrusted []string
			for _, u := range c.Untrusted {
				untrusted = append(untrusted, u.Tag)
				if !strings.Contains(u.Reason, "does not verify with cosign.pub") {
					t.Errorf("untrusted %s: reason %q does not say what failed", u.Tag, u.Reason)
				}
			}
			if fmt.Sprint(untrusted) != fmt.Sprint(tt.wantUntrusted) {
				t.Errorf("untrusted %v, want %v", untrusted, tt.wantUntrusted)
			}
			if (tt.wantErr == "") != (c.Err == nil) || c.Err != nil && !strings.Contains(c.Err.Error(), tt.wantErr) {
				t.Errorf("err %v, want %q", c.Err, tt.wantErr)
			}
		})
	}
}

// TestPollerBoundsTheUntrustedWalk: a registry of a hundred unsigned tags
// costs MaxUntrusted verifications, not a hundred.
func TestPollerBoundsTheUntrustedWalk(t *testing.T) {
	app := &config.App{Name: "web", Image: "127.0.0.1:5000/web", Tags: config.TagPolicy{Semver: ">=1.0.0"},
		Verify: &config.ImageTrust{Cosign: &config.CosignTrust{Keys: []string{"cosign.pub"}}}}
	sel, _ := registry.NewSelector(registry.TagPolicy{Semver: app.Tags.Semver})
	reg := tagRegistry{}
	for i := range 100 {
		reg[fmt.Sprintf("1.%d.0", i)] = digestOf(i)
	}
	v := &signedDigests{signed: map[string]bool{digestOf(0): true}}
	p := &Poller{Registry: reg, Trust: trust.NewChecker(map[string][]trust.Verifier{"web": {v}})}
	c := p.lookupOne(context.Background(), app, sel)
	if c.Err == nil || c.Version.Tag != "" {
		t.Fatalf("candidate %v err %v: want none past the bound", c.Version, c.Err)
	}
	if got := v.asked.Load(); got != MaxUntrusted || len(c.Untrusted) != MaxUntrusted {
		t.Errorf("verified %d digests, listed %d untrusted; want %d each", got, len(c.Untrusted), MaxUntrusted)
	}
	if c.Untrusted[0].Tag != "1.99.0" || c.Untrusted[MaxUntrusted-1].Tag != "1.92.0" {
		t.Errorf("walk order %v, want newest first", c.Untrusted)
	}
}

// gatedRegistry blocks each look-up until released, counting how many run
// at once.
type gatedRegistry struct {
	release       chan struct{}
	running, peak atomic.Int32
}

func (g *gatedRegistry) Tags(ctx context.Context, _ string, _ bool) ([]string, error) {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return []string{"1.0.0"}, nil
}

func (g *gatedRegistry) Resolve(context.Context, string, string, bool) (registry.Descriptor, error) {
	return registry.Descriptor{Digest: digestOf(1)}, nil
}

// Look-ups run on Concurrency workers, whatever the number of apps, and
// every app gets its answer.
func TestPollerWorkers(t *testing.T) {
	const apps, workers = 200, 4
	g := &gatedRegistry{release: make(chan struct{})}
	p := &Poller{Registry: g, Concurrency: workers}
	sel, err := registry.NewSelector(registry.TagPolicy{Semver: ">=1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	var list []*config.App
	for i := range apps {
		list = append(list, &config.App{Name: fmt.Sprintf("app%03d", i), Image: fmt.Sprintf("127.0.0.1:5000/app%03d", i)})
	}
	done := make(chan Candidates)
	go func() { done <- p.Lookup(t.Context(), list, func(string) *registry.Selector { return sel }, 0) }()
	go func() {
		for range apps {
			g.release <- struct{}{}
		}
	}()
	got := <-done
	if n := g.peak.Load(); n > workers {
		t.Errorf("%d look-ups ran at once, want at most %d", n, workers)
	}
	for _, app := range list {
		if c := got[app.Name]; c.Err != nil || c.Version.Tag != "1.0.0" {
			t.Errorf("%s: %+v", app.Name, c)
		}
	}
	// The workers end once the queue is empty (a moment after the answers).
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		w, q, f := p.workers, len(p.queue), len(p.inflight)
		p.mu.Unlock()
		if w == 0 && q == 0 && f == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the pass: %d workers, %d queued, %d in flight; want none", w, q, f)
		}
		time.Sleep(time.Millisecond)
	}
}

// hungRegistry never answers until its look-up is cancelled.
type hungRegistry struct{}

func (hungRegistry) Tags(ctx context.Context, _ string, _ bool) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hungRegistry) Resolve(ctx context.Context, _, _ string, _ bool) (registry.Descriptor, error) {
	<-ctx.Done()
	return registry.Descriptor{}, ctx.Err()
}

// Every app whose registry is hung is left pending once the pass's
// patience runs out, not only the first: the pass does not wait for the
// others' look-up timeout.
func TestPollerPatienceCoversEveryApp(t *testing.T) {
	p := &Poller{Registry: hungRegistry{}, Concurrency: 4, Timeout: time.Hour}
	sel, err := registry.NewSelector(registry.TagPolicy{Semver: ">=1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	var list []*config.App
	for i := range 3 {
		list = append(list, &config.App{Name: fmt.Sprintf("app%d", i), Image: fmt.Sprintf("127.0.0.1:5000/app%d", i)})
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel() // ends the hung look-ups
	done := make(chan Candidates)
	go func() {
		done <- p.Lookup(ctx, list, func(string) *registry.Selector { return sel }, 50*time.Millisecond)
	}()
	select {
	case got := <-done:
		for _, app := range list {
			if c := got[app.Name]; !c.Pending {
				t.Errorf("%s: %+v, want pending", app.Name, c)
			}
		}
	case <-time.After(time.Minute):
		t.Fatal("the pass waited for hung look-ups past its patience")
	}
}
