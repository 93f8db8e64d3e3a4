package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/singleflight"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/dashboard"
)

// dashSource is the dashboard's Source over the running loop: it converts
// the agent's types to the dashboard's view types, so the dashboard never
// imports the agent. Every answer comes from what the last pass stored;
// a page view never fetches Git or takes the agent's locks.
type dashSource struct {
	loop   func() *agent.Loop
	status singleflight.Group
	// readStatus is (*agent.Agent).Status; tests wrap it to count calls.
	readStatus func(*agent.Agent, context.Context) ([]agent.EnvStatus, error)
}

// newDashSource reads the current loop (nil while none runs; after a reload
// of ferry.yaml, the new one) and its agent's fleet repo.
func newDashSource(loop func() *agent.Loop) *dashSource {
	return &dashSource{loop: loop, readStatus: (*agent.Agent).Status}
}

func (s *dashSource) current() (*agent.Loop, error) {
	l := s.loop()
	if l == nil {
		return nil, dashboard.ErrStarting
	}
	return l, nil
}

// Pipeline implements dashboard.Source.
func (s *dashSource) Pipeline() (*config.Pipeline, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	return l.Agent().Config(), nil
}

// Status implements dashboard.Source. Until a pass has read the fleet repo
// it answers ErrStarting: agent.Status would fetch Git itself then, under
// the lock a stalled pass holds. Concurrent page loads share one call; each
// stops waiting when its own request ends, and one that goes away does not
// cancel the call the others wait for.
func (s *dashSource) Status(ctx context.Context) ([]dashboard.Cell, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	if !l.Ready() {
		if p := l.LastPass(); p != nil && p.Err != nil {
			return nil, fmt.Errorf("%w; the last attempt failed: %s", dashboard.ErrStarting, p.Err)
		}
		return nil, dashboard.ErrStarting
	}
	a := l.Agent()
	// Keyed by agent: after a reload, no page gets the old pipeline's cells.
	ch := s.status.DoChan(fmt.Sprintf("%p", a), func() (any, error) {
		st, err := s.readStatus(a, context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		return dashCells(st), nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, fmt.Errorf("read status: %w", r.Err)
		}
		// Each caller gets its own slice of the shared answer.
		return slices.Clone(r.Val.([]dashboard.Cell)), nil
	}
}

// LastPass implements dashboard.Source.
func (s *dashSource) LastPass() *dashboard.Pass {
	l := s.loop()
	if l == nil {
		return nil
	}
	return dashPass(l.LastPass())
}

// Progress implements dashboard.Source.
func (s *dashSource) Progress() []dashboard.Analysis {
	l := s.loop()
	if l == nil {
		return nil
	}
	progress := l.Agent().Progress()
	out := make([]dashboard.Analysis, len(progress))
	for i, p := range progress {
		out[i] = dashAnalysis(p)
	}
	return out
}

// Timeline implements dashboard.Source: it walks the history from the head
// the last pass saw, never fetching (only the agent may fetch: fleet.Repo's
// rule).
func (s *dashSource) Timeline(ctx context.Context, app, env string, limit int) ([]dashboard.Event, error) {
	l, err := s.current()
	if err != nil {
		return nil, err
	}
	p := l.LastGoodPass() // a failed pass since keeps the history it had
	if p == nil || p.Result.Head() == "" {
		return nil, dashboard.ErrStarting
	}
	head := p.Result.Head()
	repo := l.Agent().Fleet()
	snap, err := repo.Snapshot(head)
	if err != nil {
		return nil, fmt.Errorf("timeline at %.12s: %w", head, err)
	}
	return dashboard.ReadTimeline(ctx, repo, snap, app, env, limit, 0) // 0: the dashboard's bound, 5000 commits
}

func dashCells(st []agent.EnvStatus) []dashboard.Cell {
	out := make([]dashboard.Cell, len(st))
	for i, s := range st {
		c := dashboard.Cell{App: s.App, Env: s.Env, Version: s.Version, Error: s.Error}
		if d := s.Delivery; d != nil {
			c.Delivery = &dashboard.Delivery{Strategy: d.Strategy, Version: d.Version, Step: d.Step, Label: d.Label, Weight: d.Weight}
		}
		if v := s.Verdict; v != nil {
			c.Verdict = &dashboard.Verdict{Verdict: v.Verdict, Template: v.Template, Commit: v.Commit, Reason: v.Reason}
		}
		out[i] = c
	}
	return out
}

// dashPass keeps what the home page shows of a pass: the steps that did not
// move a candidate (wait, hold, deny, error) and the pull requests still open.
func dashPass(rec *agent.PassRecord) *dashboard.Pass {
	if rec == nil {
		return nil
	}
	p := &dashboard.Pass{At: rec.At}
	if rec.Err != nil {
		p.Err = rec.Err.Error()
	}
	res := rec.Result
	if res == nil {
		return p
	}
	p.Promotions, p.Commit = len(res.Promotions), res.Plan.Commit
	for _, s := range res.Plan.Steps {
		// A hold (the source has not verified it, or it awaits approval)
		// is pending too: the pipeline view shows its reason and votes.
		if s.Action == agent.ActionWait || s.Action == agent.ActionHold || s.Action == agent.ActionDeny || s.Action == agent.ActionError {
			p.Pending = append(p.Pending, dashPending(s))
		}
		if s.Unverified != "" {
			p.Untrusted = append(p.Untrusted, dashboard.Untrusted{App: s.App, Env: s.From, Version: s.UnverifiedTag, What: "commit", Reason: s.Unverified})
		}
	}
	for _, u := range res.Plan.Untrusted {
		for _, t := range u.Tags {
			p.Untrusted = append(p.Untrusted, dashboard.Untrusted{App: u.App, Version: t.Tag, What: "tag", Reason: t.Reason})
		}
	}
	for _, pr := range res.PullRequests {
		if st := strings.ToLower(pr.State); st != "closed" && st != "merged" {
			p.PullRequests = append(p.PullRequests, dashboard.PullRequest{Number: pr.Number, URL: pr.URL,
				App: pr.App, Env: pr.Env, Candidate: pr.Candidate, State: pr.State})
		}
	}
	return p
}

func dashPending(s agent.Step) dashboard.Pending {
	p := dashboard.Pending{App: s.App, Env: s.Env, From: s.From, Mode: string(s.Mode), Current: s.Current,
		Candidate: s.Candidate, Action: string(s.Action), Reason: s.Reason}
	if d := s.Decision; d != nil {
		p.Decision = &dashboard.Decision{Deny: d.Deny, Warn: d.Warn, Notes: d.Notes}
		// The gate's own count (reviews, from, forbidSelf and expiry
		// weighed), not the approvals file read again here.
		if a := d.Approval; a != nil {
			p.Approvals = &dashboard.Approvals{Required: a.Required, Count: a.Count, ApprovedBy: a.By,
				RejectedBy: a.RejectedBy, Missing: a.Missing}
		}
	}
	return p
}

func dashAnalysis(p agent.Progress) dashboard.Analysis {
	return dashboard.Analysis{App: p.App, Env: p.Env, Commit: p.Commit, Version: p.Version, Template: p.Template,
		Step: p.Step, Started: p.Started, Finished: p.Finished, Verdict: p.Verdict, Reason: p.Reason,
		Measurements: p.Measurements}
}
