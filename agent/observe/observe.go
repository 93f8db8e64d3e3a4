package observe

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

// Observer is how the agent tells people what it did: logs, metrics and
// notifications, each decision once per candidate (not every pass).
type Observer struct {
	Log      *slog.Logger
	Metrics  *Metrics // nil records nothing
	Notifier Notifier // nil tells no one
	now      func() time.Time

	mu sync.Mutex
	// verdicts holds the last logged decision per candidate, and seen when
	// each candidate was first seen (for the seen-to-pushed histogram). Both
	// keep only the candidates of the last pass: they never grow past the
	// pipeline.
	verdicts map[string]string
	seen     map[string]time.Time
	// untrusted remembers the tags logged as not trusted (app, tag ->
	// reason), so a standing one is one line, not one a pass.
	untrusted map[string]string
	// warned is the last Ungated answer logged (nil: none yet): said at
	// start-up and again after each change, not every pass.
	warned *string
}

func New(log *slog.Logger, m *Metrics, n Notifier, now func() time.Time) *Observer {
	return &Observer{Log: log, Metrics: m, Notifier: n, now: now, verdicts: map[string]string{}, seen: map[string]time.Time{}, untrusted: map[string]string{}}
}

func (o *Observer) Notify(ev notify.Event) {
	if o.Notifier != nil {
		ev.Time = o.now()
		o.Notifier.Notify(ev)
	}
}

// Key names a candidate of a step: what Forget keeps when a pass saw it.
func Key(s plan.Step) string {
	return s.App + "\x00" + s.Env + "\x00" + s.Candidate.Tag + "\x00" + s.Candidate.Digest
}

// ungated warns about the environments no policy rule can stop, when
// that list changes (the first pass, a policy or config commit), and says
// when it is empty again.
func (o *Observer) Ungated(envs []gate.Ungated) {
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
		o.Log.Info("every environment is gated: a policy rule can deny each one")
	default:
		for _, u := range envs {
			o.Log.Warn("ungated environment", "env", u.Env, "reason", u.Reason)
		}
	}
}

// polled counts a pass's registry answers.
func (o *Observer) Polled(cands plan.Candidates) {
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
	o.Metrics.registryPolls(ok, failed)
	o.untrustedTags(cands)
}

// maxUntrustedLogged bounds the remembered untrusted tags; past it the
// memory is cleared, and a standing one is logged once more.
const maxUntrustedLogged = 10000

// untrustedTags logs, once per tag and reason, each tag passed over for
// want of a verified signature: a release that never arrives because its
// signature does not verify must be visible without ferry plan.
func (o *Observer) untrustedTags(cands plan.Candidates) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for app, c := range cands {
		for _, u := range c.Untrusted {
			key := app + "\x00" + u.Tag
			if o.untrusted[key] == u.Reason {
				continue
			}
			if len(o.untrusted) >= maxUntrustedLogged {
				clear(o.untrusted)
			}
			o.untrusted[key] = u.Reason
			o.Log.Warn("tag not trusted: no signature that verifies", "app", app, "tag", u.Tag, "reason", u.Reason)
			o.Notify(notify.Event{Kind: notify.UntrustedTag, App: app, Version: u.Tag, From: "registry", Reason: u.Reason})
		}
	}
}

// unverifiedCommit tells, once per commit, that the commit that set a
// version in step's source environment is not signed by an allowed
// signer (git.verifyCommits); state logs it, this notifies.
func (o *Observer) unverifiedCommit(step plan.Step) {
	key := "commit\x00" + step.App + "\x00" + step.From + "\x00" + step.Unverified
	o.mu.Lock()
	first := o.untrusted[key] == ""
	if first {
		if len(o.untrusted) >= maxUntrustedLogged {
			clear(o.untrusted)
		}
		o.untrusted[key] = step.Unverified
	}
	o.mu.Unlock()
	if first {
		o.Notify(notify.Event{Kind: notify.UnverifiedCommit, App: step.App, Env: step.From, Version: step.UnverifiedTag,
			Reason: step.Unverified})
	}
}

// decided logs a gate's verdict when it differs from the last one for the
// same (app, env, candidate): a denial is not repeated every pass.
func (o *Observer) Decided(step plan.Step, passStart time.Time) {
	switch step.Action {
	case plan.ActionError:
		o.Metrics.decision(step.Env, "error")
	case plan.ActionDeny:
		o.Metrics.decision(step.Env, "deny")
	case plan.ActionPromote, plan.ActionWait:
		if step.Decision != nil {
			o.Metrics.decision(step.Env, "allow")
		}
	}
	if step.Unverified != "" {
		o.unverifiedCommit(step)
	}
	// Metrics above count every decision; the log below only a change, so
	// a standing denial is one line, not one a pass.
	key := Key(step)
	verdict := string(step.Action) + ":" + step.Reason
	o.mu.Lock()
	if step.Action == plan.ActionPromote {
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
	case step.Action == plan.ActionError:
		o.Log.Error("cannot decide", append(attrs, "err", step.Reason)...)
	case step.Action == plan.ActionHold:
		o.Log.Info("held", append(attrs, "reason", step.Reason)...)
	case step.Decision == nil:
	case step.Decision.Allow:
		o.Log.Info("allowed", append(attrs, "policy", step.Decision.Policy, "warnings", logLines(step.Decision.Warn))...)
	default:
		o.Log.Warn("denied", append(attrs, "policy", step.Decision.Policy, "reasons", logLines(step.Decision.Deny), "notes", logLines(step.Decision.Notes))...)
		o.Notify(notify.Event{Kind: notify.Denial, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
			Reason: "denied by policy " + step.Decision.Policy, Reasons: step.Decision.Deny})
	}
}

// forget drops what is kept about candidates no pass looks at any more.
func (o *Observer) Forget(seen map[string]bool) {
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

func (o *Observer) Promoted(step plan.Step, commit *fleet.Snapshot) {
	o.Metrics.promotion(step.App, step.Env, "pushed")
	key := Key(step)
	o.mu.Lock()
	seen, ok := o.seen[key]
	delete(o.seen, key)
	o.mu.Unlock()
	if ok {
		o.Metrics.promotionDuration(o.now().Sub(seen))
	}
	o.Notify(notify.Event{Kind: notify.Promotion, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
		Commit: commit.Hash(), Reason: step.Reason})
	o.Log.Info("promoted", "app", step.App, "env", step.Env, "version", step.Candidate.Tag,
		"digest", step.Candidate.Digest, "from", step.From, "commit", ledger.ShortHash(commit.Hash()))
}

func (o *Observer) PromotionFailed(step plan.Step, err error) {
	o.Metrics.promotion(step.App, step.Env, "error")
	o.Log.Error("promotion failed", "app", step.App, "env", step.Env, "candidate", step.Candidate.String(), "err", err)
}

// PromotionDropped logs a move a person's commit made stale between its
// decision and its push: the next pass decides it again.
func (o *Observer) PromotionDropped(step plan.Step, why error) {
	o.Metrics.promotion(step.App, step.Env, "dropped")
	o.Log.Warn("promotion dropped; the next pass decides it again", "app", step.App, "env", step.Env, "candidate", step.Candidate.String(), "why", why)
}

// deliveryStarted logs step 0 of a progressive delivery. It is not yet a
// promotion (counted and notified once, when the delivery completes), so
// the time the candidate was first seen is kept for that moment.
func (o *Observer) DeliveryStarted(step plan.Step, commit *fleet.Snapshot) {
	o.Log.Info("delivery started", "app", step.App, "env", step.Env, "version", step.Candidate.Tag,
		"from", step.From, "commit", ledger.ShortHash(commit.Hash()))
}

func (o *Observer) Delivered(adv canary.Advanced, app *config.App, env *config.Environment) {
	o.Log.Info("canary", "app", app.Name, "env", env.Name, "version", adv.Step.Candidate.Tag, "move", adv.Step.Reason,
		"commit", ledger.ShortHash(adv.Commit.Hash()))
	switch {
	case adv.Aborts:
		o.Metrics.rollback(app.Name, env.Name)
	// The move that makes the version stable is the promotion.
	case adv.Completes:
		o.Promoted(adv.Step, adv.Commit)
	}
}

func (o *Observer) Proposed(step plan.Step, url string) {
	o.Notify(notify.Event{Kind: notify.PullRequestOpened, App: step.App, Env: step.Env, Version: step.Candidate.Tag,
		From: step.From, URL: url, Reason: "promote " + step.App + " " + step.Candidate.Tag + " to " + step.Env})
}

func (o *Observer) RolledBack(res *rollback.Result, req rollback.Request) {
	switch {
	case res.Commit != "":
		o.Metrics.rollback(res.App, res.Env)
		o.Log.Warn("rolled back", "app", res.App, "env", res.Env, "from", res.From.String(), "to", res.To.String(),
			"alert", req.Name, "mirrors", res.Mirrors, "via", res.Via, "commit", ledger.ShortHash(res.Commit))
	case res.PR != nil:
		o.Log.Warn("rollback proposed", "app", res.App, "env", res.Env, "from", res.From.String(), "to", res.To.String(),
			"alert", req.Name, "pr", res.PR.URL)
	case res.Stale:
		o.Log.Info("rollback not needed", "app", res.App, "env", res.Env, "alert", req.Name, "reason", res.Reason)
	default:
		// Nothing to go back to (or nothing running): a person must act, and
		// the log must say so even without a notifier configured.
		o.Log.Warn("nothing rolled back", "app", res.App, "env", res.Env, "alert", req.Name, "reason", res.Reason)
	}
	// People hear of a rollback made or proposed, and also of one that had
	// no good version to go back to: then only they can act.
	if res.Commit != "" || res.PR != nil || (!res.Stale && res.To.IsZero() && !res.From.IsZero()) {
		ev := notify.Event{Kind: notify.Rollback, App: res.App, Env: res.Env, Version: res.To.Tag, From: res.From.Tag,
			Commit: res.Commit, Reason: res.Reason}
		if res.PR != nil {
			ev.URL = res.PR.URL
		}
		o.Notify(ev)
	}
}

func (o *Observer) Verdict(v verify.Verification, res analysis.Result) {
	o.Metrics.analysis(v.Env, string(res.Verdict))
	attrs := []any{"app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step, "analysis", res.Template,
		"verdict", res.Verdict, "reason", res.Reason, "commit", ledger.ShortHash(v.Commit)}
	switch res.Verdict {
	case analysis.Successful:
		o.Log.Info("analysis passed", attrs...)
	case analysis.Inconclusive:
		o.Log.Warn("analysis inconclusive: the version is held", attrs...)
	default:
		o.Log.Error("analysis failed", attrs...)
		o.Notify(notify.Event{Kind: notify.AnalysisFailed, App: v.App, Env: v.Env, Version: v.Version.Tag, Commit: v.Commit,
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
