package publish

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// Chain is one transaction built link by link: each Add commits on the
// last link's commits in the clone only, and Push sends them all in one
// push. A promotion chain (dev, then qa on dev's commit, ...) costs one
// round trip to the remote instead of one per environment, and each link
// is still its own commit with its own record.
//
// Until Push lands nothing is on the remote and nothing moves in the
// clone's refs: a crash, or a Push that gives up, leaves the commits as
// unreferenced objects and the branch where it was. Callers act on a link
// (history, notifications, verifications) only once Push says it landed.
type Chain struct {
	p     *Publisher
	base  *fleet.Snapshot // the head the first link was built on
	tip   *fleet.Snapshot
	links []link
}

type link struct {
	what    string
	change  Change
	commits []*fleet.Snapshot
}

// Chain starts a chain on base: a head the caller read (a pass's read).
func (p *Publisher) Chain(base *fleet.Snapshot) *Chain {
	return &Chain{p: p, base: base, tip: base}
}

// Tip is the chain's last commit, or its base before any.
func (c *Chain) Tip() *fleet.Snapshot { return c.tip }

// Len is the number of links (Adds that made commits), waiting for Push.
func (c *Chain) Len() int { return len(c.links) }

// Add applies change on the chain's tip and commits its edits in the
// clone, without pushing. It returns the link's commits (none when change
// had nothing to do, and then no link). change is kept: when the branch moved before Push
// landed, Push asks it again on the new head (it must read everything it
// decides on from the head it is given, as a Publish change). On an error
// the chain is left as it was.
func (c *Chain) Add(ctx context.Context, what string, change Change) ([]*fleet.Snapshot, error) {
	c.p.acquire(false)
	defer c.p.release()
	edits, err := change(ctx, c.tip)
	if err != nil {
		return nil, err
	}
	tip, commits, err := c.p.commit(what, c.tip, edits)
	if err != nil {
		return nil, err
	}
	if len(commits) == 0 {
		return nil, nil // nothing to push, nor to apply again
	}
	c.tip = tip
	c.links = append(c.links, link{what: what, change: change, commits: commits})
	return commits, nil
}

// ChainResult is what Push did.
type ChainResult struct {
	// Head is the branch head after the push (the chain's base when there
	// was nothing to push).
	Head *fleet.Snapshot
	// Links are the commits pushed per link (per Add that made commits),
	// in Add order: nil for a link that, on a moved branch, found nothing
	// to do or failed on the new head (Errs says which), and for every
	// link when Push failed.
	Links [][]*fleet.Snapshot
	// Errs are the links' errors when applied again on a moved branch.
	Errs     []error
	Attempts int
}

// Push sends the chain in one push, without force. The first try pushes
// the commits Add made; when the branch moved, every link is asked again,
// in order, on the fetched head (a link that now finds nothing to do, or
// fails, is dropped, and the links after it decide on a head without it)
// and the new commits are pushed, up to the publisher's Attempts rounds.
// No commit is pushed twice: a round starts from the remote's head.
func (c *Chain) Push(ctx context.Context) (ChainResult, error) {
	res := ChainResult{Head: c.base, Links: make([][]*fleet.Snapshot, len(c.links)), Errs: make([]error, len(c.links))}
	if c.Len() == 0 {
		return res, nil
	}
	what := fmt.Sprintf("%d commits (%s, ...)", c.Len(), c.links[0].what)
	push := func() error {
		if err := c.p.repo.Push(ctx, c.tip); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		res.Head = c.tip
		for i, l := range c.links {
			res.Links[i] = l.commits
		}
		return nil
	}
	c.p.acquire(false)
	err := push()
	c.p.release()
	res.Attempts = 1
	if !errors.Is(err, fleet.ErrNonFastForward) {
		return res, err
	}
	c.p.opts.Logger.Info("the branch moved under a chain of commits; applying them again on the new head", "what", what)
	// No wait before the first replay: the chain was built on a pass's
	// read, and being behind is not a race to back off from.
	attempts, err := c.p.onMovedRef(ctx, func(attempt int) error {
		res.Attempts = attempt + 1
		if c.p.opts.OnRetry != nil {
			c.p.opts.OnRetry()
		}
		c.p.acquire(false)
		defer c.p.release()
		head, err := c.p.repo.Fetch(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		c.base, c.tip = head, head
		for i := range c.links {
			l := &c.links[i]
			l.commits, res.Errs[i] = nil, nil
			edits, err := l.change(ctx, c.tip)
			if err == nil {
				var tip *fleet.Snapshot
				if tip, l.commits, err = c.p.commit(l.what, c.tip, edits); err == nil {
					c.tip = tip
				}
			}
			res.Errs[i] = err
		}
		res.Head = head
		if c.tip == head {
			return nil // nothing left to push
		}
		return push()
	})
	if errors.Is(err, fleet.ErrNonFastForward) {
		return res, fmt.Errorf("%s: gave up after %d attempts: %w", what, attempts+1, err)
	}
	return res, err
}
