package trust

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
)

// maxCached bounds the verified digests kept. A full cache is cleared,
// not evicted one by one: the cost is one verification of each live
// candidate again, and no bookkeeping.
const maxCached = 4096

// Remember is how long a trusted answer is kept: its signature does not
// change, but attestations attached later (a new scan of the same digest,
// provenance) must reach the policies, so it is asked again after this.
const Remember = 5 * time.Minute

// Checker verifies an app's images with the verifiers its verify: block
// configures, once per digest for Remember: an untrusted answer is not
// kept, so a signature pushed after the image is found at the next look.
// Safe for concurrent use.
type Checker struct {
	byApp map[string][]Verifier
	// Now is the clock of Remember; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	verified map[string]remembered // app \x00 digest, trusted results only
	inflight map[string]*call
}

type remembered struct {
	res Result
	at  time.Time
}

type call struct {
	done chan struct{}
	res  Result
	err  error
}

// NewChecker checks each app's images with its verifiers (by app name);
// an app with none is not verified.
func NewChecker(byApp map[string][]Verifier) *Checker {
	return &Checker{byApp: byApp, verified: map[string]remembered{}, inflight: map[string]*call{}}
}

// Verifies reports whether app's images are verified at all.
func (c *Checker) Verifies(app string) bool { return c != nil && len(c.byApp[app]) > 0 }

// Check verifies app's image at digest with every verifier of the app and
// merges what they found. A trusted result is kept for Remember; an
// untrusted one is asked again next time (a signature may be pushed after
// the image). Two callers asking for the same digest at once share one
// verification.
func (c *Checker) Check(ctx context.Context, app *config.App, digest string) (Result, error) {
	vs := c.byApp[app.Name]
	if len(vs) == 0 {
		return Result{}, fmt.Errorf("verify %s@%s: no verifier is configured for %s", app.Image, digest, app.Name)
	}
	if digest == "" {
		return Result{Problems: []string{"no digest: a signature is made over a digest, so ferry verifies only a pinned version"}}, nil
	}
	key := app.Name + "\x00" + digest
	now := c.now()
	c.mu.Lock()
	if r, ok := c.verified[key]; ok && now.Sub(r.at) < Remember {
		c.mu.Unlock()
		return r.res, nil
	}
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.res, cl.err
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()

	cl.res, cl.err = verifyAll(ctx, vs, Image{Repo: app.Image, Digest: digest, Insecure: app.Insecure})
	c.mu.Lock()
	delete(c.inflight, key)
	if cl.err == nil && cl.res.Trusted() {
		if len(c.verified) >= maxCached {
			clear(c.verified)
		}
		c.verified[key] = remembered{cl.res, now}
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.res, cl.err
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func verifyAll(ctx context.Context, vs []Verifier, img Image) (Result, error) {
	var all Result
	for _, v := range vs {
		r, err := v.Verify(ctx, img)
		if err != nil {
			return Result{}, fmt.Errorf("verify %s@%s: %w", img.Repo, img.Digest, err)
		}
		all.Merge(r)
	}
	// One signer found twice (cosign's bundle and tag formats, two
	// verifiers) is one signer to the policies and the trailers.
	seen := map[string]bool{}
	all.Signatures = slices.DeleteFunc(all.Signatures, func(s Signature) bool {
		dup := seen[s.String()]
		seen[s.String()] = true
		return dup
	})
	return all, nil
}
