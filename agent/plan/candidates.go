package plan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// Registry lists and resolves tags of image repositories.
type Registry interface {
	Tags(ctx context.Context, repo string, insecure bool) ([]string, error)
	Resolve(ctx context.Context, repo, tag string, insecure bool) (registry.Descriptor, error)
}

// Candidates are the newest allowed registry versions per app, or why
// there is none.
type Candidates map[string]Candidate

// Candidate is one app's registry answer.
type Candidate struct {
	Version ledger.Version
	Err     error
	// Pending: the registry has not answered within the pass's patience;
	// the look-up goes on and asks for a pass of its own when it ends.
	Pending bool
	// Skipped are the newest-looking tags that look like versions but the
	// tag policy refuses (registry.Skipped), SkippedMore the count of the
	// others: ferry plan says why a tag was not taken.
	Skipped     []registry.Skipped
	SkippedMore int
	// Untrusted are the newer allowed tags passed over because no signature
	// of theirs verifies (the app's verify: block), newest first, each with
	// what failed.
	Untrusted []registry.Skipped
	// Signatures are the candidate's verified signatures; nil when the app
	// is not verified.
	Signatures []trust.Signature
}

// Trust verifies an app's image at a digest (trust.Checker).
type Trust interface {
	Verifies(app string) bool
	Check(ctx context.Context, app *config.App, digest string) (trust.Result, error)
}

// MaxUntrusted bounds the tags verified in one look-up: past the newest
// MaxUntrusted allowed tags without a verified signature, the app has no
// candidate, so a registry full of unsigned tags costs a bounded walk.
const MaxUntrusted = 8

// MaxSkipped bounds the skipped tags kept per app, so a hundred noise tags
// do not flood ferry plan.
const MaxSkipped = 5

// Poller asks registries for candidates. A slow or dead registry holds
// back only the apps on it: each app's look-up runs on its own with a
// deadline, a pass waits for look-ups only up to its patience, and a
// look-up that ends after that calls Done for its app.
type Poller struct {
	Registry Registry
	// Trust, when set, verifies the apps it Verifies: a tag without a
	// verified signature is never a candidate.
	Trust Trust
	// Timeout bounds one app's look-up (tags and digest); default 60s.
	Timeout time.Duration
	// Concurrency bounds look-ups in flight; default 16.
	Concurrency int
	// Done hears about look-ups that ended after the pass stopped waiting.
	Done func(app string)

	once     sync.Once
	mu       sync.Mutex
	inflight map[string]*lookup
	// queue holds the look-ups no worker has taken yet; at most
	// Concurrency workers run them. A goroutine per app (10,000 of them,
	// each growing its stack through the HTTP stack) cost more than the
	// look-ups' own work.
	queue   []job
	workers int
}

type job struct {
	ctx context.Context
	app *config.App
	sel *registry.Selector
	l   *lookup
}

type lookup struct {
	done    chan struct{}
	res     Candidate
	waiting bool // a pass still waits for it
}

func (p *Poller) init() {
	p.once.Do(func() {
		if p.Timeout <= 0 {
			p.Timeout = time.Minute
		}
		if p.Concurrency <= 0 {
			p.Concurrency = 16
		}
		p.inflight = map[string]*lookup{}
	})
}

// Lookup asks for the candidates of apps with sel, waiting up to patience
// (0: until every look-up ended). ctx bounds the look-ups themselves, so it
// should outlive the pass (the agent's lifetime).
func (p *Poller) Lookup(ctx context.Context, apps []*config.App, sel func(string) *registry.Selector, patience time.Duration) Candidates {
	p.init()
	waits := make(map[string]*lookup, len(apps))
	p.mu.Lock()
	for _, app := range apps {
		// Join a look-up still in flight rather than start another: a hung
		// registry then costs one goroutine per app, not one per pass.
		l, ok := p.inflight[app.Name]
		if !ok {
			l = &lookup{done: make(chan struct{})}
			p.inflight[app.Name] = l
			p.queue = append(p.queue, job{ctx, app, sel(app.Name), l})
			if p.workers < p.Concurrency {
				p.workers++
				go p.work()
			}
		}
		l.waiting = true
		waits[app.Name] = l
	}
	p.mu.Unlock()
	// A channel closed when patience runs out (not a timer's channel, which
	// delivers once): every app still unanswered then waits, not only the
	// first one the loop below meets.
	var timeout chan struct{}
	if patience > 0 {
		timeout = make(chan struct{})
		t := time.AfterFunc(patience, func() { close(timeout) })
		defer t.Stop()
	}
	out := make(Candidates, len(apps))
	for _, app := range apps {
		l := waits[app.Name]
		select {
		case <-l.done:
			out[app.Name] = l.res
			continue
		case <-timeout:
		case <-ctx.Done():
		}
		// Not answered in time: this app waits, the others go on. Checking
		// done and clearing waiting under one lock means run either hands
		// its result to this pass or calls Done, never neither.
		p.mu.Lock()
		select {
		case <-l.done:
			out[app.Name] = l.res
		default:
			l.waiting = false
			out[app.Name] = Candidate{Pending: true, Err: fmt.Errorf("the registry of %s has not answered yet; the pass goes on without it", app.Image)}
		}
		p.mu.Unlock()
	}
	return out
}

// work runs queued look-ups until the queue is empty.
func (p *Poller) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.workers--
			p.queue = nil // let the backing array go
			p.mu.Unlock()
			return
		}
		j := p.queue[0]
		p.queue[0] = job{}
		p.queue = p.queue[1:]
		p.mu.Unlock()
		p.run(j.ctx, j.app, j.sel, j.l)
	}
}

func (p *Poller) run(ctx context.Context, app *config.App, sel *registry.Selector, l *lookup) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	res := p.lookupOne(ctx, app, sel)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && res.Err != nil {
		res.Err = fmt.Errorf("registry look-up of %s gave up after %s: %w", app.Image, p.Timeout, res.Err)
	}
	p.mu.Lock()
	l.res = res
	close(l.done)
	delete(p.inflight, app.Name)
	late := !l.waiting
	p.mu.Unlock()
	// A stopping agent (ctx cancelled) asks for no pass.
	if late && p.Done != nil && ctx.Err() != context.Canceled {
		p.Done(app.Name)
	}
}

func (p *Poller) lookupOne(ctx context.Context, app *config.App, sel *registry.Selector) Candidate {
	tags, err := p.Registry.Tags(ctx, app.Image, app.Insecure)
	if err != nil {
		return Candidate{Err: err}
	}
	tag, ok, skipped, more := sel.SelectSkipping(tags, MaxSkipped)
	if !ok {
		return Candidate{Err: fmt.Errorf("no tag of %s matches %s", app.Image, describeTags(app.Tags)), Skipped: skipped, SkippedMore: more}
	}
	desc, err := p.Registry.Resolve(ctx, app.Image, tag, app.Insecure)
	if err != nil {
		return Candidate{Err: err, Skipped: skipped, SkippedMore: more}
	}
	c := Candidate{Version: ledger.Version{Tag: tag, Digest: desc.Digest}, Skipped: skipped, SkippedMore: more}
	if p.Trust == nil || !p.Trust.Verifies(app.Name) {
		return c
	}
	return p.trusted(ctx, app, sel, tags, c)
}

// trusted walks the allowed tags from the newest down to the first whose
// digest carries a signature that verifies; the ones passed over are
// Untrusted, with why. A verifier that cannot read the registry stops the
// walk with an error: an older tag must not win because a newer one's
// signature was unreadable.
func (p *Poller) trusted(ctx context.Context, app *config.App, sel *registry.Selector, tags []string, c Candidate) Candidate {
	var older []string // the allowed tags, newest first; sorted only when needed
	v := c.Version
	for i := 0; ; i++ {
		res, err := p.Trust.Check(ctx, app, v.Digest)
		if err != nil {
			c.Version, c.Err = ledger.Version{}, fmt.Errorf("verify the signatures of %s:%s: %w", app.Image, v.Tag, err)
			return c
		}
		if res.Trusted() {
			c.Version, c.Signatures = v, res.Signatures
			return c
		}
		c.Untrusted = append(c.Untrusted, registry.Skipped{Tag: v.Tag, Reason: res.Why()})
		if older == nil {
			older = newestFirst(sel, tags)
		}
		if i+1 >= len(older) || i+1 >= MaxUntrusted {
			c.Version = ledger.Version{}
			c.Err = fmt.Errorf("no tag of %s carries a signature that verifies (the %d newest were checked; ferry plan lists why each was refused)", app.Image, len(c.Untrusted))
			return c
		}
		tag := older[i+1]
		desc, err := p.Registry.Resolve(ctx, app.Image, tag, app.Insecure)
		if err != nil {
			c.Version, c.Err = ledger.Version{}, err
			return c
		}
		v = ledger.Version{Tag: tag, Digest: desc.Digest}
	}
}

// newestFirst is the tags sel allows, newest first, in sel's order: the
// first is the one Select picks.
func newestFirst(sel *registry.Selector, tags []string) []string {
	var out []string
	for _, t := range tags {
		if sel.Allows(t) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b string) int {
		if a == b {
			return 0
		}
		if sel.Less(b, a) {
			return -1
		}
		return 1
	})
	return slices.Compact(out)
}

func describeTags(t config.TagPolicy) string {
	switch {
	case t.Semver != "":
		return "semver " + t.Semver
	case t.Regex != "":
		return "regex " + t.Regex
	}
	return "tag " + t.Digest
}
