// The demo's timeline: what happens, printed as it happens (commits,
// the agent's decisions and errors, webhook answers), and the summary.

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/analysis"
)

func (d *demo) say(format string, args ...any) {
	if d.quiet.Load() || d.ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// errorKey masks what changes between repeats of one error (hashes, temp
// names, counts).
var errorKey = regexp.MustCompile(`[0-9a-f]{7,}|[0-9]+`)

// sayError prints "who: error: text" on the timeline, once: a pass or a
// scrape that fails the same way every second would bury the story.
func (d *demo) sayError(who, text string) {
	key := who + errorKey.ReplaceAllString(text, "#")
	d.mu.Lock()
	seen := d.errors[key]
	d.errors[key] = true
	d.mu.Unlock()
	if !seen {
		d.say("%s: error: %s", who, text)
	}
}

// tally counts ferry's records on main by kind.
func (d *demo) tally() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var promotions, steps, aborts, rollbacks, approvals, people, other int
	for _, r := range d.records {
		switch r.(type) {
		case *ledger.Promotion:
			promotions++
		case *ledger.CanaryStep:
			steps++
		case *ledger.Abort:
			aborts++
		case *ledger.Rollback:
			rollbacks++
		case *ledger.Approval:
			approvals++ // the product owner's, written by ferry approve
		case *ledger.Change:
			people++ // not ferry's: the reviewer's merges
		default:
			other++
		}
	}
	out := fmt.Sprintf("%d promotions, %d canary steps, %d canary abort, %d rollback", promotions, steps, aborts, rollbacks)
	if other > 0 {
		out += fmt.Sprintf(", %d other records", other)
	}
	return out + fmt.Sprintf(" by ferry; %d approvals by the product owner; %d merges of its pull requests by a reviewer", approvals, people)
}

// hook prints what the loop does beside the commits: analyses, verdicts,
// rollbacks and the gate's denials.
func (d *demo) hook(l *agent.Loop) {
	l.OnVerifying = func(v agent.Verification) {
		what := v.Template
		if what == "" {
			return // no analysis: nothing to show
		}
		_ = d.syncGit(false) // the commit it analyses first
		d.say("analysis: %s: %s started", v, what)
	}
	l.OnVerdict = func(v agent.Verification, res analysis.Result) {
		if v.Template == "" {
			return
		}
		_ = d.syncGit(false)
		d.say("analysis: %s: %s (%s)", v, res.Verdict, res.Reason)
	}
	l.OnRollback = func(al agent.Alert, res *agent.RollbackResult, err error) {
		if err != nil {
			d.say("rollback: %s in %s: %v", al.App, al.Env, err)
		}
	}
	l.OnPass = func(res *agent.Result, err error) {
		// The pass's commits are pushed by now: printed before the
		// decisions that name them.
		_ = d.syncGit(false)
		if res == nil {
			if err != nil {
				d.sayError("agent", err.Error())
			}
			return
		}
		for _, step := range res.Plan.Steps {
			verb := "denied"
			switch step.Action {
			case agent.ActionDeny:
			case agent.ActionHold:
				verb = "held" // nothing moves past an environment that has not verified it
			default:
				continue
			}
			key := step.App + step.Env + step.Candidate.String() + step.Reason
			d.mu.Lock()
			seen := d.denied[key]
			d.denied[key] = true
			if !seen && step.Action == agent.ActionDeny {
				d.denials = append(d.denials, step.Env+" "+step.Candidate.Tag)
			}
			if step.Decision != nil && step.Decision.AwaitingApproval {
				d.waiting[step.Env+" "+step.Candidate.Tag] = true
			}
			d.mu.Unlock()
			if !seen {
				d.say("gate: %s %s -> %s %s: %s", step.App, step.Candidate.Tag, step.Env, verb, strings.TrimPrefix(step.Reason, "denied: "))
			}
		}
		for _, e := range res.Errors {
			d.sayError("agent", e)
		}
	}
}

// watchGit prints every commit that lands on the fleet repo's main: the
// reviewer's merges, and ferry's before the loop's hooks would.
func (d *demo) watchGit(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_ = d.syncGit(false)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// syncGit prints the commits on main since the last it printed, oldest
// first, and keeps their records. The loop's hooks call it before they
// print, so a commit comes before the gate lines and analyses that name
// it. first only notes main's head (the seed, shown already).
func (d *demo) syncGit(first bool) error {
	d.gitMu.Lock()
	defer d.gitMu.Unlock()
	repo, err := git.PlainOpen(d.bare)
	if err != nil {
		return err
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return err
	}
	if first || ref.Hash() == d.seen {
		d.seen = ref.Hash()
		return nil
	}
	var fresh []*object.Commit
	for c, err := repo.CommitObject(ref.Hash()); err == nil && c.Hash != d.seen; {
		fresh = append(fresh, c)
		if c.NumParents() == 0 {
			break
		}
		c, err = c.Parent(0)
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		c := fresh[i]
		by := ""
		if c.Author.Name != "ferry" {
			by = " (by " + c.Author.Name + ")"
		}
		d.say("git: %s %s%s", c.Hash.String()[:7], strings.SplitN(c.Message, "\n", 2)[0], by)
		rec := ledger.Parse(c.Message)
		switch r := rec.(type) {
		case *ledger.Abort:
			d.say("      %s", r.Reason)
		case *ledger.Rollback:
			d.say("      %s", r.Reason)
		}
		if rec != nil {
			d.mu.Lock()
			d.records = append(d.records, rec)
			d.mu.Unlock()
		}
	}
	d.seen = ref.Hash()
	return nil
}

// report prints a pull request's body: the gate report ferry wrote.
func (d *demo) report(pr pullrequest.PR) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "        ┌ pull request #%d: %s\n", pr.Number, pr.Title)
	for _, line := range strings.Split(strings.TrimRight(pr.Body, "\n"), "\n") {
		fmt.Fprintf(d.w, "        │ %s\n", line)
	}
	fmt.Fprintf(d.w, "        └\n")
}

func printMatrix(w io.Writer, p *config.Pipeline, plan *agent.Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "APP")
	for _, e := range p.Environments {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(e.Name))
	}
	fmt.Fprintln(tw)
	cur := map[string]string{}
	for _, s := range plan.Steps {
		cur[s.App+"/"+s.Env] = s.Current.Tag
	}
	for _, app := range p.Apps {
		fmt.Fprint(tw, app.Name)
		for _, e := range p.Environments {
			fmt.Fprintf(tw, "\t%s", cur[app.Name+"/"+e.Name])
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// timelineHandler puts ERROR records on the timeline (say gets "msg k=v:
// err"), and passes every record next would take to next.
type timelineHandler struct {
	next  slog.Handler
	say   func(string)
	attrs []slog.Attr
}

func (h *timelineHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *timelineHandler) Handle(ctx context.Context, r slog.Record) error {
	// "reconcile pass" carries the pass's errors, which OnPass prints one a
	// line; a failed analysis is on the timeline as its verdict.
	if r.Level >= slog.LevelError && r.Message != "reconcile pass" && r.Message != "analysis failed" {
		var b strings.Builder
		b.WriteString(r.Message)
		var errText string
		add := func(a slog.Attr) bool {
			if a.Key == "err" {
				errText = a.Value.String()
			} else {
				fmt.Fprintf(&b, " %s=%s", a.Key, a.Value)
			}
			return true
		}
		for _, a := range h.attrs {
			add(a)
		}
		r.Attrs(add)
		if errText != "" {
			b.WriteString(": " + errText)
		}
		h.say(b.String())
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *timelineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &timelineHandler{next: h.next.WithAttrs(as), say: h.say, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h *timelineHandler) WithGroup(name string) slog.Handler {
	return &timelineHandler{next: h.next.WithGroup(name), say: h.say, attrs: h.attrs}
}
