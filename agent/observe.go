package agent

import (
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/rollback"
	"github.com/ferry-dev/ferry/agent/verify"
	"github.com/ferry-dev/ferry/analysis"
)

// Notifier hears about what ferry did; it must never block.
type Notifier interface {
	Notify(ev notify.Event)
}

// observer is how the agent tells people what it did: logs, metrics and
// notifications, each decision once per candidate (not every pass).
type observer struct {
	log      *slog.Logger
	metrics  *Metrics
	notifier Notifier
	now      func() time.Time

	mu sync.Mutex
	// verdicts holds the last logged decision per candidate, and seen when
	// each candidate was first seen (for the seen-to-pushed histogram). Both
	// keep only the candidates of the last pass: they never grow past the
	// pipeline.
	verdicts map[string]string
	seen     map[string]time.Time
	// warned is the last Ungated answer logged (nil: none yet): said at
	// start-up and again after each change, not every pass.
	warned *string
}

func newObserver(log *slog.Logger, m *Metrics, n Notifier, now func() time.Time) *observer {
	return &observer{log: log, metrics: m, notifier: n, now: now, verdicts: map[string]string{}, seen: map[string]time.Time{}}
}

func (o *observer) notify(ev notify.Event) {
	if o.notifier != nil {
		ev.Time = o.now()
		o.notifier.Notify(ev)
	}
}

func seenKey(s Step) string {
	return s.App + "\x00" + s.Env + "\x00" + s.Candidate.Tag + "\x00" + s.Candidate.Digest
}

// ungated warns about the environments no policy rule can stop, when
// that list changes (the first pass, a policy or config commit), and says
// when it is empty again.
func (o *observer) ungated(envs []gate.Ungated) {
	reasons := make([]string, len(envs))
	for i, u := range envs {
		reasons[i] = u.Reason
	}
	key := strings.Join(reasons, "\n")
	o.mu.Lock()
	before := o.warned
	o.warned = &key
	o.mu.Unlock()
	switch {
	case before != nil && *before == key:
	case len(envs) == 0 && before != nil:
		o.log.Info("every environment is gated: a policy rule can deny each one")
	default:
		for _, u := range envs {
			o.log.Warn("ungated environment", "env", u.Env, "reason", u.Reason)
		}
	}
}

// polled counts a pass's registry answers.
func (o *observer) polled(cands plan.Candidates) {
	ok, failed := 0, 0
	for _, c := range cands {
		switch {
		case c.Pending:
		case c.Err != nil:
			failed++
		default:
			ok++
		}
	}
	o.metrics.registryPolls(ok, failed)
}

// decided logs a gate's verdict when it differs from the last one for the
// same (app, env, candidate): a denial is not repeated every pass.
func (o *observer) decided(step Step, passStart time.Time) {
	switch step.Action {
	case ActionError:
		o.metrics.decision(step.Env, "error")
	case ActionDeny:
		o.metrics.decision(step.Env, "deny")
	case ActionPromote, ActionWait:
		if step.Decision != nil {
			o.metrics.decision(step.Env, "allow")
		}
	}
	// Metrics above count every decision; the log below only a change, so
	// a standing denial is one line, not one a pass.
	key := seenKey(step)
	verdict := string(step.Action) + ":" + step.Reason
	o.mu.Lock()
	if step.Action == ActionPromote {
		// The pass's start: that is when it saw the candidate, however long
		// the gate and earlier environments took.
		if _, ok := o.seen[key]; !ok {
			o.seen[key] = passStart
		}
	}
	same := o.verdicts[key] == verdict
	o.verdicts[key] = verdict
	o.mu.Unlock()
	if same {
		return
	}
	attrs := []any{"app", step.App, "env", step.Env, "candidate", step.Candidate.String()}
	switch {
	case step.Action == ActionError:
		o.log.Error("cannot decide", append(attrs, "err", step.Reason)...)
	case step.Action == ActionHold:
		o.log.Info("held", append(attrs, "reason", step.Reason)...)
	case step.Decision == nil:
	case step.Decision.Allow:
		o.log.Info("allowed", append(attrs, "policy", step.Decision.Policy, "warnings", logLines(step.Decision.Warn))...)
	default:
		o.log.Warn("denied", append(attrs, "policy", step.Decision.Policy, "reasons", logLines(step.Decision.Deny), "notes", logLines(step.Decision.Notes))...)
		o.notify(notify.Event{Kind: notify.Denial, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
			Reason: "denied by policy " + step.Decision.Policy, Reasons: step.Decision.Deny})
	}
}

// forget drops what is kept about candidates no pass looks at any more.
func (o *observer) forget(seen map[string]bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for k := range o.verdicts {
		if !seen[k] {
			delete(o.verdicts, k)
		}
	}
	for k := range o.seen {
		if !seen[k] {
			delete(o.seen, k)
		}
	}
}

func (o *observer) promoted(step Step, commit *fleet.Snapshot) {
	o.metrics.promotion(step.App, step.Env, "pushed")
	key := seenKey(step)
	o.mu.Lock()
	seen, ok := o.seen[key]
	delete(o.seen, key)
	o.mu.Unlock()
	if ok {
		o.metrics.promotionDuration(o.now().Sub(seen))
	}
	o.notify(notify.Event{Kind: notify.Promotion, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
		Commit: commit.Hash(), Reason: step.Reason})
	o.log.Info("promoted", "app", step.App, "env", step.Env, "version", step.Candidate.Tag,
		"digest", step.Candidate.Digest, "from", step.From, "commit", ledger.ShortHash(commit.Hash()))
}

func (o *observer) promotionFailed(step Step, err error) {
	o.metrics.promotion(step.App, step.Env, "error")
	o.log.Error("promotion failed", "app", step.App, "env", step.Env, "candidate", step.Candidate.String(), "err", err)
}

// deliveryStarted logs step 0 of a progressive delivery. It is not yet a
// promotion (counted and notified once, when the delivery completes), so
// the time the candidate was first seen is kept for that moment.
func (o *observer) deliveryStarted(step Step, commit *fleet.Snapshot) {
	o.log.Info("delivery started", "app", step.App, "env", step.Env, "version", step.Candidate.Tag,
		"from", step.From, "commit", ledger.ShortHash(commit.Hash()))
}

func (o *observer) delivered(adv canary.Advanced, app *config.App, env *config.Environment) {
	o.log.Info("canary", "app", app.Name, "env", env.Name, "version", adv.Step.Candidate.Tag, "move", adv.Step.Reason,
		"commit", ledger.ShortHash(adv.Commit.Hash()))
	switch {
	case adv.Aborts:
		o.metrics.rollback(app.Name, env.Name)
	// The move that makes the version stable is the promotion.
	case adv.Completes:
		o.promoted(adv.Step, adv.Commit)
	}
}

func (o *observer) proposed(step Step, url string) {
	o.notify(notify.Event{Kind: notify.PullRequestOpened, App: step.App, Env: step.Env, Version: step.Candidate.Tag,
		From: step.From, URL: url, Reason: "promote " + step.App + " " + step.Candidate.Tag + " to " + step.Env})
}

func (o *observer) rolledBack(res *rollback.Result, req rollback.Request) {
	switch {
	case res.Commit != "":
		o.metrics.rollback(res.App, res.Env)
		o.log.Warn("rolled back", "app", res.App, "env", res.Env, "from", res.From.String(), "to", res.To.String(),
			"alert", req.Name, "mirrors", res.Mirrors, "via", res.Via, "commit", ledger.ShortHash(res.Commit))
	case res.PR != nil:
		o.log.Warn("rollback proposed", "app", res.App, "env", res.Env, "from", res.From.String(), "to", res.To.String(),
			"alert", req.Name, "pr", res.PR.URL)
	case res.Stale:
		o.log.Info("rollback not needed", "app", res.App, "env", res.Env, "alert", req.Name, "reason", res.Reason)
	default:
		// Nothing to go back to (or nothing running): a person must act, and
		// the log must say so even without a notifier configured.
		o.log.Warn("nothing rolled back", "app", res.App, "env", res.Env, "alert", req.Name, "reason", res.Reason)
	}
	// People hear of a rollback made or proposed, and also of one that had
	// no good version to go back to: then only they can act.
	if res.Commit != "" || res.PR != nil || (!res.Stale && res.To.IsZero() && !res.From.IsZero()) {
		ev := notify.Event{Kind: notify.Rollback, App: res.App, Env: res.Env, Version: res.To.Tag, From: res.From.Tag,
			Commit: res.Commit, Reason: res.Reason}
		if res.PR != nil {
			ev.URL = res.PR.URL
		}
		o.notify(ev)
	}
}

func (o *observer) verdict(v verify.Verification, res analysis.Result) {
	o.metrics.analysis(v.Env, string(res.Verdict))
	attrs := []any{"app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step, "analysis", res.Template,
		"verdict", res.Verdict, "reason", res.Reason, "commit", ledger.ShortHash(v.Commit)}
	switch res.Verdict {
	case analysis.Successful:
		o.log.Info("analysis passed", attrs...)
	case analysis.Inconclusive:
		o.log.Warn("analysis inconclusive: the version is held", attrs...)
	default:
		o.log.Error("analysis failed", attrs...)
		o.notify(notify.Event{Kind: notify.AnalysisFailed, App: v.App, Env: v.Env, Version: v.Version.Tag, Commit: v.Commit,
			Reason: "analysis " + res.Template + " of " + v.String() + " failed: " + res.Reason})
	}
}

// logLines is a list of messages as one log field. slog prints a []string
// as fmt does, [a b], so two notes read as one sentence run together
// (issue 14 item 7); the messages are joined with "; " instead.
type logLines []string

func (l logLines) LogValue() slog.Value {
	return slog.StringValue(strings.Join(l, "; "))
}
