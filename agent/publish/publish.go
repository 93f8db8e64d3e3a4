// Package publish is the one write transaction of the fleet repo: fetch
// the branch, apply a change to its head, commit, push without force, and
// on a moved branch do it all again on the new head. Every writer
// (promotions, canary steps, rollbacks, freezes, verdict notes) goes
// through it, so the attempt limits, the backoff, the retry metric and the
// rule "never overwrite what someone else pushed" exist once.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/internal/backoff"
	"github.com/ferry-dev/ferry/internal/clock"
)

// Repo is the fleet repo as a writer needs it (*fleet.Repo).
type Repo interface {
	Fetch(ctx context.Context) (*fleet.Snapshot, error)
	Commit(parent *fleet.Snapshot, files map[string][]byte, msg string, when time.Time) (*fleet.Snapshot, error)
	Push(ctx context.Context, s *fleet.Snapshot) error
	EditNote(ctx context.Context, ref, commit string, edit func(old string) (string, bool), when time.Time) error
}

// Edit is one commit of a change: the files it sets (nil content deletes)
// and the record whose message it carries.
type Edit struct {
	Files  map[string][]byte
	Record ledger.Record
}

// Change computes, on the branch's current head, the commits to push
// (oldest first; one push carries them all). It is called again on the new
// head when the branch moved, so it must read everything it decides on from
// head. No edits means there is nothing to do on this head. An error stops
// the transaction: wrap it with Terminal when trying again cannot help.
type Change func(ctx context.Context, head *fleet.Snapshot) ([]Edit, error)

// Result is what a transaction did.
type Result struct {
	// Head is the branch head after the transaction: the last commit pushed,
	// or the head the change found nothing to do on.
	Head *fleet.Snapshot
	// Commits are the commits pushed, oldest first; none when the change
	// had nothing to do.
	Commits  []*fleet.Snapshot
	Attempts int
}

// ErrTerminal marks errors that the same change cannot get past by trying
// again (an overlay that does not build, a record that cannot be written):
// the alert handler gives up on them instead of retrying.
var ErrTerminal = errors.New("terminal")

type terminalError struct{ err error }

func (e terminalError) Error() string        { return e.err.Error() }
func (e terminalError) Unwrap() error        { return e.err }
func (e terminalError) Is(target error) bool { return target == ErrTerminal }

// Terminal marks err as one that retrying cannot fix.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return terminalError{err}
}

// IsTerminal reports whether retrying err cannot help.
func IsTerminal(err error) bool { return errors.Is(err, ErrTerminal) }

// Options configure a Publisher.
type Options struct {
	// Attempts bounds the fetch-apply-push rounds of one transaction on a
	// moving branch; default 5.
	Attempts int
	// Backoff is the first wait between rounds (doubling, capped at 2 s);
	// default 50 ms. The simulation sets it to a nanosecond: its remote
	// moves only when the simulation says so.
	Backoff time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// OnRetry hears each round repeated because the branch moved (metrics).
	OnRetry func()
}

// Publisher serialises the writers of one fleet repo clone. Urgent
// transactions (rollbacks) go before waiting ordinary ones (a pass's
// promotions), so a rollback waits at most for one transaction in flight.
type Publisher struct {
	repo Repo
	opts Options

	mu            sync.Mutex
	cond          *sync.Cond
	busy          bool
	urgentWaiting int
}

// New makes a Publisher for repo.
func New(repo Repo, o Options) *Publisher {
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 50 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{repo: repo, opts: o}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// acquire takes the writer's turn; urgent callers overtake ordinary ones.
// Turns are short (each is bounded by the repo's network timeouts), so
// waiting for one needs no context.
func (p *Publisher) acquire(urgent bool) {
	p.mu.Lock()
	if urgent {
		p.urgentWaiting++
	}
	for p.busy || (!urgent && p.urgentWaiting > 0) {
		p.cond.Wait()
	}
	if urgent {
		p.urgentWaiting--
	}
	p.busy = true
	p.mu.Unlock()
}

func (p *Publisher) release() {
	p.mu.Lock()
	p.busy = false
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Exclusive runs fn as one writer turn: for the repo operations that are
// not commits to the branch but share the local clone (fetching for a
// read, pushing a proposal branch).
func (p *Publisher) Exclusive(fn func() error) error {
	p.acquire(false)
	defer p.release()
	return fn()
}

// onMovedRef runs try, again after a wait (doubling from Backoff, at most
// 2 s) each time it met a moved ref, up to Attempts tries. It returns the
// tries made and try's last error.
func (p *Publisher) onMovedRef(ctx context.Context, try func(attempt int) error) (int, error) {
	delays := backoff.New(p.opts.Backoff, 2*time.Second)
	for attempt := 1; ; attempt++ {
		err := try(attempt)
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= p.opts.Attempts {
			return attempt, err
		}
		if err := clock.Sleep(ctx, delays.Next()); err != nil {
			return attempt, err
		}
	}
}

// Publish runs the transaction what (for errors and logs): change on the
// fetched head, each edit committed on the last, one push. On a moved
// branch it starts again on the new head, up to Attempts rounds; between
// rounds it releases the writer's turn. A change error is returned as is.
func (p *Publisher) Publish(ctx context.Context, what string, urgent bool, change Change) (Result, error) {
	return p.publish(ctx, what, urgent, nil, change)
}

// PublishOn is Publish whose first round builds on from instead of a
// fresh fetch: a head the caller read a moment ago (a pass's read), saving
// a round trip to the remote. The push is a compare-and-swap on the
// remote, so a from that is no longer the branch's head costs one refused
// push, after which the rounds go on as Publish's, at once (no backoff:
// nobody raced us, we were behind). Only a landed push ends the
// transaction on from: when change finds nothing to do there, or fails,
// it is asked again on a fetched head, which is the truth.
func (p *Publisher) PublishOn(ctx context.Context, what string, urgent bool, from *fleet.Snapshot, change Change) (Result, error) {
	if from == nil {
		return p.Publish(ctx, what, urgent, change)
	}
	return p.publish(ctx, what, urgent, from, change)
}

// publish runs the transaction; from, when set, is the first round's head.
func (p *Publisher) publish(ctx context.Context, what string, urgent bool, from *fleet.Snapshot, change Change) (Result, error) {
	if from != nil {
		var opt Result
		err := p.round(ctx, what, urgent, from, change, &opt)
		if err == nil && len(opt.Commits) > 0 {
			opt.Attempts = 1
			return opt, nil
		}
		// Only a push that landed proves from was the head. Nothing to do,
		// or an error, may come from a head the branch has left: decide
		// again on a fetched one.
		p.opts.Logger.Debug("not pushed on the head given; fetching", "what", what, "err", err)
	}
	var res Result
	attempts, err := p.onMovedRef(ctx, func(attempt int) error {
		res.Attempts = attempt
		if attempt > 1 && p.opts.OnRetry != nil {
			p.opts.OnRetry()
		}
		err := p.round(ctx, what, urgent, nil, change, &res)
		if errors.Is(err, fleet.ErrNonFastForward) {
			p.opts.Logger.Info("the branch moved; applying the change again on the new head", "what", what, "attempt", attempt)
		}
		return err
	})
	if errors.Is(err, fleet.ErrNonFastForward) {
		return res, fmt.Errorf("%s: gave up after %d attempts: %w", what, attempts, err)
	}
	return res, err
}

// round is one attempt, under the writer's turn, on head (nil: fetched).
func (p *Publisher) round(ctx context.Context, what string, urgent bool, head *fleet.Snapshot, change Change, res *Result) error {
	p.acquire(urgent)
	defer p.release()
	if head == nil {
		var err error
		if head, err = p.repo.Fetch(ctx); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	edits, err := change(ctx, head)
	if err != nil {
		return err
	}
	res.Head, res.Commits = head, nil
	if len(edits) == 0 {
		return nil
	}
	tip, commits, err := p.commit(what, head, edits)
	if err != nil {
		return err
	}
	if len(commits) == 0 {
		return nil
	}
	if err := p.repo.Push(ctx, tip); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	res.Head, res.Commits = tip, commits
	return nil
}

// commit commits edits on tip, each on the last, in the clone only. An
// edit already there (ErrNoChange) makes no commit; the rest may.
func (p *Publisher) commit(what string, tip *fleet.Snapshot, edits []Edit) (*fleet.Snapshot, []*fleet.Snapshot, error) {
	var commits []*fleet.Snapshot
	for _, e := range edits {
		msg := e.Record.Message()
		if err := msg.Validate(); err != nil {
			return nil, nil, Terminal(fmt.Errorf("%s: %w", what, err))
		}
		next, err := p.repo.Commit(tip, e.Files, msg.String(), p.opts.Now())
		if errors.Is(err, fleet.ErrNoChange) {
			continue // this edit is already there: the rest may not be
		}
		if err != nil {
			return nil, nil, Terminal(fmt.Errorf("%s: commit %q: %w", what, msg.Subject, err))
		}
		tip = next
		commits = append(commits, next)
	}
	return tip, commits, nil
}

// Note adds to the note on commit (refs/notes/ferry) what edit makes of the
// note there now, retrying on a moved notes ref like Publish. Every verdict
// on a commit is kept: edit gets the whole note and returns it changed.
func (p *Publisher) Note(ctx context.Context, commit string, edit func(ledger.Note) (ledger.Note, bool)) error {
	attempts, err := p.onMovedRef(ctx, func(int) error {
		p.acquire(false)
		defer p.release()
		return p.repo.EditNote(ctx, ledger.NotesRef, commit, func(old string) (string, bool) {
			n, changed := edit(ledger.ParseNote(old))
			return n.String(), changed
		}, p.opts.Now())
	})
	if errors.Is(err, fleet.ErrNonFastForward) {
		return fmt.Errorf("note on %s: gave up after %d attempts: %w", ledger.ShortHash(commit), attempts, err)
	}
	return err
}
