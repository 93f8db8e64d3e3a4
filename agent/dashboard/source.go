package dashboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

// ErrStarting means the agent has not been wired or has no pass yet: the
// dashboard answers 503 until it has.
var ErrStarting = errors.New("ferry is starting: no reconcile pass has finished yet")

// Source is what the dashboard reads, in its own view types: the page code
// never sees the agent, so the agent can change without the pages (and the
// dashboard cannot reach the agent's locks). Every method answers from what
// the last pass stored: a page view must never fetch Git or wait for a pass.
// The dashboard never writes.
type Source interface {
	// Pipeline is the configuration the agent runs (apps, envs, analyses).
	Pipeline() (*config.Pipeline, error)
	// Status is every app's cell in every environment.
	Status(ctx context.Context) ([]Cell, error)
	// LastPass is the newest finished pass; nil before the first.
	LastPass() *Pass
	// Progress is the newest analysis per app and environment.
	Progress() []Analysis
	// Timeline is the newest limit events of app ("" for all) in env ("" for all).
	Timeline(ctx context.Context, app, env string, limit int) ([]Event, error)
}

// Cell is where one app stands in one environment: the version, a
// delivery in progress, the newest verdict, or why it could not be read.
type Cell struct {
	App      string
	Env      string
	Version  ledger.Version
	Delivery *Delivery
	Verdict  *Verdict
	Error    string
}

// Delivery is a progressive delivery in progress.
type Delivery struct {
	Strategy string
	Version  ledger.Version
	Step     string // "2/4"
	Label    string
	Weight   int // percent of traffic on the canary
}

// Verdict is the newest verdict on what an environment runs.
type Verdict struct {
	Verdict  analysis.Verdict
	Template string
	Commit   string
	Reason   string
}

// Pass is the newest finished reconcile pass, as the home page shows it.
type Pass struct {
	At         time.Time
	Err        string // the pass's errors, "" when it had none
	Promotions int    // commits it pushed
	Commit     string // the fleet repo's head it read
	// Pending are the candidates it did not move: waiting, denied or failed.
	Pending []Pending
	// PullRequests are the open proposals it opened, updated or found.
	PullRequests []PullRequest
	// Untrusted are what the pass would not take on trust: newer tags
	// without a verified signature, and versions set by commits no allowed
	// signer signed.
	Untrusted []Untrusted
}

// Untrusted is one tag or commit a pass did not trust, and why.
type Untrusted struct {
	App     string
	Env     string // where a commit set the version; "" for a registry tag
	Version string
	What    string // "tag" or "commit"
	Reason  string
}

// Pending is a candidate a pass did not move, with why.
type Pending struct {
	App       string
	Env       string
	From      string // source environment, or "registry"
	Mode      string // auto, pullRequest, manual, mirror
	Current   ledger.Version
	Candidate ledger.Version
	Action    string // wait, hold, deny or error; also the badge's CSS class
	Reason    string
	Decision  *Decision // nil when the gate did not decide
	// Approvals are the votes for Candidate when Env has approval:; nil
	// otherwise.
	Approvals *Approvals
}

// Decision is the gate's verdict on a pending candidate.
type Decision struct {
	Deny  []string
	Warn  []string
	Notes []string // which evidence is absent and why
}

// PullRequest is an open proposal for one candidate.
type PullRequest struct {
	Number    int
	URL       string
	App       string
	Env       string
	Candidate ledger.Version
	State     string
}

// Analysis is the live state of the newest analysis of one app in one
// environment, with every measurement kept for the charts.
type Analysis struct {
	App          string
	Env          string
	Commit       string // the commit it judges
	Version      ledger.Version
	Template     string // "" when only readiness is checked
	Step         string // the canary step ("2/4"), "" for a promotion
	Started      time.Time
	Finished     time.Time
	Verdict      analysis.Verdict
	Reason       string
	Measurements []analysis.Measurement
}

// Kind is what an event in the fleet repo's history did.
type Kind string

// Kinds of events, from the records the ledger parses; anything else is a
// person's change.
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

// History is the part of the fleet repo the timeline reads (*fleet.Repo).
// Both methods are safe next to the agent's own fetches and pushes; Fetch
// is not, so the dashboard never calls it.
type History interface {
	Snapshot(hash string) (*fleet.Snapshot, error)
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
}

// ReadTimeline walks the first-parent history from snap, newest first, and
// keeps up to limit events of app in env ("" matches all), looking at no more
// than maxScan commits (0: 5000).
func ReadTimeline(ctx context.Context, repo History, snap *fleet.Snapshot, app, env string, limit, maxScan int) ([]Event, error) {
	// 5000: an app that changes rarely in a busy fleet still shows its
	// history, and no page walks the whole repository.
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
	// A rollback moves its mirrors too, so it is on their timelines.
	return env == "" || e.Env == env || slices.Contains(e.Mirrors, env)
}

// EventOf reads a commit as the ledger records it.
func EventOf(c fleet.Commit) Event {
	rec := ledger.Parse(c.Message)
	ev := Event{Commit: c.Hash, Time: c.Time, Author: c.Author.Name, Subject: rec.Subject(), Kind: KindChange}
	ev.App, ev.Env = ledger.AppEnv(rec)
	switch r := rec.(type) {
	case *ledger.Promotion:
		ev.Kind, ev.Version, ev.Reason = KindPromotion, r.Version.Tag, r.Reason
		if r.Completed != "" {
			ev.Canary = r.Completed + " completed"
		}
	case *ledger.CanaryStep:
		ev.Kind, ev.Canary = KindCanary, r.Version.Tag
		ev.Step, ev.Weight = ledger.StepLabel(r.Step, r.Of), strconv.Itoa(r.Weight)
		// Only step 0 carries the gate: it is the version's arrival.
		if r.Gate != nil {
			ev.Version = r.Version.Tag
		}
		if r.Passed != "" {
			ev.Reason = "step " + r.Passed + " passed"
		} else if r.Reason != "" {
			ev.Reason = r.Reason // a person's manual promotion started it
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
