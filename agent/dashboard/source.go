package dashboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// ErrStarting means the agent has not been wired or has no pass yet: the
// dashboard answers 503 until it has.
var ErrStarting = errors.New("ferry is starting: no reconcile pass has finished yet")

// Source is what the dashboard reads. Everything in it comes from Git or
// from the running agent; the dashboard never writes.
type Source interface {
	// Pipeline is the configuration the agent runs (apps, envs, analyses).
	Pipeline() (*config.Pipeline, error)
	Status(ctx context.Context) ([]agent.EnvStatus, error)
	// LastPass is the newest finished pass; nil before the first.
	LastPass() *agent.PassRecord
	Progress() []agent.Progress
	// Timeline is the newest limit events of app ("" for all) in env ("" for all).
	Timeline(ctx context.Context, app, env string, limit int) ([]Event, error)
}

// Kind is what an event in the fleet repo's history did.
type Kind string

// Kinds of events, from the subjects ferry writes (agent/reconcile.go,
// canary.go, rollback.go); anything else is a person's change.
const (
	KindPromotion Kind = "promotion"
	KindRollback  Kind = "rollback"
	KindCanary    Kind = "canary"
	KindAbort     Kind = "abort"
	KindUnfreeze  Kind = "unfreeze"
	KindChange    Kind = "change"
)

// Event is one commit of the fleet repo as the timeline shows it.
type Event struct {
	Commit  string
	Time    time.Time
	Author  string
	Kind    Kind
	Subject string
	App     string
	Env     string
	Version string // promoted or rolled-back-to version
	Canary  string
	Step    string
	Weight  string
	Reason  string
	Rejects []string
	Mirrors []string
}

// History is the part of the fleet repo the timeline reads (agent.Fleet,
// *fleet.Repo). Both methods are safe next to the agent's own fetches and
// pushes; Fetch is not, so the dashboard never calls it.
type History interface {
	Snapshot(hash string) (*fleet.Snapshot, error)
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
}

// LoopSource reads a running agent loop and its fleet repo.
type LoopSource struct {
	loop   func() *agent.Loop
	status singleflight.Group
	// MaxScan bounds the commits one timeline walks (default 5000).
	MaxScan int
}

// NewSource reads the current loop (nil while none runs; after a reload of
// ferry.yaml, the new one) and its agent's fleet repo. The timeline never
// fetches: it walks the history from the head the last pass saw, since only
// the agent may fetch (fleet.Repo's rule).
func NewSource(loop func() *agent.Loop) *LoopSource {
	return &LoopSource{loop: loop}
}

func (s *LoopSource) current() (*agent.Loop, error) {
	l := s.loop()
	if l == nil {
		return nil, ErrStarting
	}
	return l, nil
}

// Pipeline implements Source.
func (s *LoopSource) Pipeline() (*config.Pipeline, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	return l.Agent().Config(), nil
}

// Status implements Source; concurrent page loads share one read of Git.
func (s *LoopSource) Status(ctx context.Context) ([]agent.EnvStatus, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	v, err, _ := s.status.Do("status", func() (any, error) { return l.Agent().Status(ctx) })
	if err != nil {
		return nil, fmt.Errorf("read status: %w", err)
	}
	return slices.Clone(v.([]agent.EnvStatus)), nil
}

// LastPass implements Source.
func (s *LoopSource) LastPass() *agent.PassRecord {
	if l := s.loop(); l != nil {
		return l.LastPass()
	}
	return nil
}

// Progress implements Source.
func (s *LoopSource) Progress() []agent.Progress {
	if l := s.loop(); l != nil {
		return l.Agent().Progress()
	}
	return nil
}

// Timeline implements Source.
func (s *LoopSource) Timeline(ctx context.Context, app, env string, limit int) ([]Event, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	head := headOf(l.LastPass())
	if head == "" {
		return nil, ErrStarting
	}
	repo := l.Agent().Fleet()
	snap, err := repo.Snapshot(head)
	if err != nil {
		return nil, fmt.Errorf("timeline at %.12s: %w", head, err)
	}
	return ReadTimeline(ctx, repo, snap, app, env, limit, s.MaxScan)
}

// headOf is the fleet repo's head after a pass: its last push, else what it read.
func headOf(p *agent.PassRecord) string {
	if p == nil || p.Result == nil {
		return ""
	}
	if n := len(p.Result.Promotions); n > 0 && p.Result.Promotions[n-1].Commit != "" {
		return p.Result.Promotions[n-1].Commit
	}
	return p.Result.Plan.Commit
}

// ReadTimeline walks the first-parent history from snap, newest first, and
// keeps up to limit events of app in env ("" matches all), looking at no more
// than maxScan commits (0: 5000).
func ReadTimeline(ctx context.Context, repo History, snap *fleet.Snapshot, app, env string, limit, maxScan int) ([]Event, error) {
	if maxScan <= 0 {
		maxScan = 5000
	}
	var out []Event
	seen := 0
	err := repo.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
		seen++
		ev := EventOf(c)
		if ev.matches(app, env) {
			out = append(out, ev)
		}
		return len(out) < limit && seen < maxScan, nil
	})
	if err != nil {
		return nil, fmt.Errorf("timeline at %.12s: %w", snap.Hash(), err)
	}
	return out, nil
}

func (e Event) matches(app, env string) bool {
	if app != "" && e.App != app {
		return false
	}
	return env == "" || e.Env == env || slices.Contains(e.Mirrors, env)
}

// EventOf reads a commit as the ledger records it.
func EventOf(c fleet.Commit) Event {
	rec := ledger.Parse(c.Message)
	ev := Event{Commit: c.Hash, Time: c.Time, Author: c.Author.Name, Subject: rec.Subject(), Kind: KindChange}
	ev.App, ev.Env = ledger.AppEnv(rec)
	switch r := rec.(type) {
	case *ledger.Promotion:
		ev.Kind, ev.Version = KindPromotion, r.Version.Tag
		if r.Completed != "" {
			ev.Canary = r.Completed + " completed"
		}
	case *ledger.CanaryStep:
		ev.Kind, ev.Canary = KindCanary, r.Version.Tag
		ev.Step, ev.Weight = ledger.StepLabel(r.Step, r.Of), strconv.Itoa(r.Weight)
		if r.Gate != nil {
			ev.Version = r.Version.Tag
		}
		if r.Passed != "" {
			ev.Reason = "step " + r.Passed + " passed"
		}
	case *ledger.Abort:
		ev.Kind, ev.Canary, ev.Step, ev.Weight, ev.Reason = KindAbort, r.Canary.Tag, r.Step, "0", r.Reason
		if r.Rejects {
			ev.Rejects = []string{r.Canary.Tag}
		}
	case *ledger.Rollback:
		ev.Kind, ev.Version, ev.Reason, ev.Mirrors = KindRollback, r.To.Tag, r.Reason, r.Mirrors
		if r.From.Tag != "" {
			ev.Rejects = []string{r.From.Tag}
		}
	case *ledger.Unfreeze:
		ev.Kind, ev.Reason = KindUnfreeze, r.Reason
	}
	return ev
}
