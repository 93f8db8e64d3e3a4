// Approvals: people's sign-off on a version, for the environments with an
// approval: block (docs/policy-input.md, input.evidence.approvals).

package gate

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/state"
)

// Reviews reads the forge reviews of the open pull request that proposes
// candidate (its tag and digest) of app for env. A review given on a
// commit that does not propose candidate (the pull request's earlier head,
// when it proposed another version or digest) carries why in LeftOut,
// where the forge says which commit was reviewed; it does not count.
// author is the pull request's author. found is false when no such pull
// request is open.
type Reviews interface {
	ProposalReviews(ctx context.Context, app, env string, candidate ledger.Version) (reviews []pullrequest.Review, author string, found bool, err error)
}

// Teams answers whether user is a member of a forge team, written as after
// "team:" in approval.from: NAME (a team of the fleet repo's owner) or
// ORG/NAME.
type Teams interface {
	TeamMember(ctx context.Context, team, user string) (bool, error)
}

// ApprovalStatus is where an environment's approval stands for a
// candidate, for people: the plan's hold reason, the pull request body.
type ApprovalStatus struct {
	Required int `json:"required"`
	Count    int `json:"count"`
	// By are who counted, each "bob (review, team:product-owners)" as the
	// Ferry-Approved-By trailers record them.
	By []string `json:"by,omitempty"`
	// RejectedBy are the people whose counted rejection blocks, each with
	// their reason when they gave one: "carol (dashboard): not before the
	// migration".
	RejectedBy []string `json:"rejectedBy,omitempty"`
	// Missing are the approval.from entries one more vote must come from
	// (any one of them); empty when the quorum is met or anyone's counts.
	Missing []string `json:"missing,omitempty"`
}

// Met reports the quorum reached and no rejection.
func (a *ApprovalStatus) Met() bool {
	return a != nil && a.Count >= a.Required && len(a.RejectedBy) == 0
}

// String is the hold reason: "awaiting approval: 1 of 2 (needs
// team:product-owners)", or the rejection that blocks.
func (a *ApprovalStatus) String() string {
	if a == nil {
		return ""
	}
	if len(a.RejectedBy) > 0 {
		return "rejected by " + strings.Join(a.RejectedBy, "; ")
	}
	s := fmt.Sprintf("awaiting approval: %d of %d", a.Count, a.Required)
	if len(a.Missing) > 0 {
		s += " (needs " + strings.Join(a.Missing, " or ") + ")"
	}
	return s
}

// vote is one person's decision as the gate weighs it.
type vote struct {
	by, via  string
	at       time.Time
	groups   []string
	reject   bool
	reason   string
	signed   bool
	fromFile bool
	key      string // gitstate.PersonKey(by): who the person is

	counts  bool
	why     string // why it does not count
	matched string // the approval.from entry it counts under
}

// trustedGroups are the groups team: and group: entries match: the
// dashboard's, read from the person's verified sign-in. Groups written by
// hand or by the CLI next to a vote are anyone's claim.
func (v *vote) trustedGroups() []string {
	if v.via != ledger.ViaDashboard {
		return nil
	}
	return v.groups
}

// futureSkew is how far a vote's time may run ahead of ferry's clock (the
// clocks of the machines that cast votes differ a little). A vote dated
// later is not counted: it would never expire and would outrank every
// vote cast after it.
const futureSkew = gitstate.VoteSkew

// approvalSource is input.environment.approval and input.evidence.approvals.
type approvalSource struct{ g *Gate }

func (s approvalSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	rule := req.Env.Approval
	if rule == nil {
		return nil
	}
	votes, requester, err := s.votes(ctx, req, d)
	if err != nil {
		return err
	}
	status := &ApprovalStatus{Required: rule.Required}
	approvedBy, rejectedBy := []any{}, []any{}
	entries := make([]any, 0, len(votes))
	for i := range votes {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := &votes[i]
		if v.why == "" {
			if err := s.weigh(ctx, req, rule, requester, v); err != nil {
				return err
			}
		}
		e := map[string]any{"by": v.by, "via": v.via, "at": v.at.UTC().Format(time.RFC3339), "groups": stringsAny(v.trustedGroups()),
			"decision": gitstate.DecisionApprove, "signed": v.signed, "counts": v.counts}
		if v.reject {
			e["decision"] = gitstate.DecisionReject
		}
		if v.why != "" {
			e["why"] = v.why
		}
		if v.reason != "" {
			e["reason"] = v.reason
		}
		if v.matched != "" {
			e["matched"] = v.matched
		}
		entries = append(entries, e)
		if !v.counts {
			continue
		}
		if v.reject {
			rejectedBy = append(rejectedBy, v.by)
			line := ledger.Actor{Name: v.by, Via: v.via}.String()
			if v.reason != "" {
				line += ": " + ledger.OneLine(v.reason)
			}
			status.RejectedBy = append(status.RejectedBy, line)
			continue
		}
		approvedBy = append(approvedBy, v.by)
		status.Count++
		status.By = append(status.By, approvedLine(v))
	}
	if status.Count < status.Required {
		status.Missing = slices.Clone(rule.From)
	}
	out["approvals"] = map[string]any{"required": rule.Required, "count": status.Count,
		"approved_by": approvedBy, "rejected_by": rejectedBy, "entries": entries}
	d.Approval = status
	line := fmt.Sprintf("approvals %d of %d", status.Count, status.Required)
	if len(approvedBy) > 0 {
		line += " by " + strings.Join(anyStrings(approvedBy), ", ")
	}
	if len(rejectedBy) > 0 {
		line += "; rejected by " + strings.Join(anyStrings(rejectedBy), ", ")
	}
	d.Evidence = append(d.Evidence, line)
	return nil
}

// approvedLine is a Ferry-Approved-By value: "bob (review, team:product-owners)".
func approvedLine(v *vote) string {
	how := v.via
	if v.matched != "" {
		if how != "" {
			how += ", "
		}
		how += v.matched
	}
	if how == "" {
		return ledger.OneLine(v.by)
	}
	return ledger.OneLine(v.by) + " (" + how + ")"
}

// votes are the votes on the candidate for the environment, from the
// approvals file and the pull request's reviews, each person's latest
// last among theirs; earlier ones carry why they do not count. requester
// is the person whose own vote forbidSelf leaves out ("" for none).
func (s approvalSource) votes(ctx context.Context, req *Request, d *Decision) ([]vote, string, error) {
	var votes []vote
	requester := ""
	if req.Action != nil {
		requester = req.Action.By.Name
	}
	if file := req.State.Approvals.For(req.App.Name, req.Env.Name); len(file) > 0 {
		signed, unverified, err := s.fileSigned(ctx, req)
		if err != nil {
			return nil, "", err
		}
		for _, e := range file {
			if err := ctx.Err(); err != nil {
				return nil, "", err
			}
			if e.Version != req.Candidate.Tag {
				continue
			}
			via := e.Via
			if via == "" {
				via = ledger.ViaCLI
			}
			v := vote{by: e.By, via: via, at: e.At, groups: e.Groups, reject: e.Rejects(), reason: e.Reason, signed: signed, fromFile: true}
			if unverified != "" {
				v.why = unverified
			}
			// A vote binds the digest it was cast on (ferry's writers record
			// it): a tag re-pushed with another image needs new votes. A
			// hand-written entry without one counts for the tag.
			if e.Digest != "" && e.Digest != req.Candidate.Digest {
				v.why = "cast for another digest (" + ledger.ShortDigest(e.Digest) + ")"
			}
			votes = append(votes, v)
		}
	}
	if req.Env.PullRequest && s.g.opts.Reviews != nil {
		reviews, author, found, err := req.Cache.reviews(ctx, s.g.opts.Reviews, req.App.Name, req.Env.Name, req.Candidate)
		if err != nil {
			// Not "no approvals": the move is not decided (fail closed).
			return nil, "", fmt.Errorf("reviews of the pull request for %s %s to %s: %w", req.App.Name, req.Candidate.Tag, req.Env.Name, err)
		}
		if found && req.Action == nil {
			requester = author
		}
		for _, r := range reviews {
			var reject bool
			switch r.State {
			case pullrequest.ReviewApproved:
			case pullrequest.ReviewRejected:
				reject = true
			default:
				continue // a comment is no vote
			}
			v := vote{by: r.User, via: ledger.ViaReview, at: r.SubmittedAt, reject: reject}
			if r.LeftOut != "" {
				v.why = r.LeftOut
			}
			votes = append(votes, v)
		}
	}
	// A vote dated in the future counts for nothing, and replaces nothing.
	now := s.g.opts.Now()
	for i := range votes {
		if v := &votes[i]; v.at.Sub(now) > futureSkew {
			v.why = "dated in the future (at " + v.at.UTC().Format(time.RFC3339) + ")"
		}
	}
	// Each person's latest vote is theirs; the file keeps one per person,
	// but a review and a dashboard vote by one person are two. A person is
	// one whatever the letter case of their login (the forges' logins
	// ignore it): bob, BOB and Bob are one vote.
	for i := range votes {
		votes[i].key = gitstate.PersonKey(votes[i].by)
	}
	slices.SortStableFunc(votes, func(a, b vote) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return a.at.Compare(b.at)
	})
	latest := -1 // the person's latest vote that is not dated in the future
	for i := len(votes) - 1; i >= 0; i-- {
		v := &votes[i]
		if i+1 < len(votes) && votes[i+1].key != v.key {
			latest = -1
		}
		if v.why != "" {
			continue
		}
		if latest < 0 {
			latest = i
			continue
		}
		v.why = fmt.Sprintf("replaced by %s's later vote", votes[latest].by)
	}
	return votes, requester, nil
}

// unverifiedApprovals is why the file's votes do not count under
// git.verifyCommits require.
const unverifiedApprovals = "the approvals file was last changed by an unverified commit"

// fileSigned says whether the commit that last changed the approvals file
// verifies under git.verifyCommits, and under require why its votes do not
// count when it does not. Without verification nothing is signed, and the
// votes count as written.
func (s approvalSource) fileSigned(ctx context.Context, req *Request) (signed bool, unverified string, err error) {
	if s.g.sigs == nil {
		return false, "", nil
	}
	sb, found, err := s.g.sigs.CheckPath(ctx, req.State.Snap, gitstate.ApprovalsFile)
	if err != nil {
		return false, "", err
	}
	if found && sb.Verified {
		return true, "", nil
	}
	if s.g.sigs.Mode() == state.VerifyRequire {
		return false, unverifiedApprovals, nil
	}
	return false, "", nil
}

// weigh decides whether v counts: cast for this candidate (the caller
// chose), an approval not expired (a rejection stands until the person
// approves), not the requester's own under forbidSelf, and by someone
// approval.from names.
func (s approvalSource) weigh(ctx context.Context, req *Request, rule *config.Approval, requester string, v *vote) error {
	if exp := rule.Expires.Std(); exp > 0 && !v.reject {
		if age := s.g.opts.Now().Sub(v.at); age > exp {
			v.why = fmt.Sprintf("expired: cast %s ago, votes count for %s", shortDuration(age), shortDuration(exp))
			return nil
		}
	}
	if rule.ForbidSelf && requester != "" && strings.EqualFold(v.by, requester) {
		v.why = "the requester's own (forbidSelf)"
		return nil
	}
	if len(rule.From) == 0 {
		v.counts = true
		return nil
	}
	for _, f := range rule.From {
		ok, err := s.matches(ctx, req, f, v, v.trustedGroups())
		if err != nil {
			return err
		}
		if ok {
			v.counts, v.matched = true, f
			return nil
		}
	}
	v.why = "not in from (" + strings.Join(rule.From, ", ") + ")"
	if v.trustedGroups() == nil && len(v.groups) > 0 {
		// Say so when the groups written beside the vote are what it
		// lacks: only the dashboard's come from a verified sign-in.
		if slices.ContainsFunc(rule.From, func(f string) bool { return s.inGroups(f, v.groups) }) {
			v.why += fmt.Sprintf("; the groups a %s vote records are ignored (only the dashboard's come from a verified sign-in)", v.via)
		}
	}
	return nil
}

// matches reports whether v's person is who the approval.from entry f
// names, with groups the person's groups. A login is the person whatever
// its letter case (as on the forges). A team is a forge team: a dashboard
// vote's OIDC groups say it (Gitea sends ORG:TEAM), and otherwise the
// forge is asked.
func (s approvalSource) matches(ctx context.Context, req *Request, f string, v *vote, groups []string) (bool, error) {
	kind, name, ok := config.ParseApprover(f)
	if !ok {
		return false, nil
	}
	if s.inGroups(f, groups) {
		return true, nil
	}
	switch kind {
	case config.ApproverUser:
		return strings.EqualFold(v.by, name), nil
	case config.ApproverTeam:
		if s.g.opts.Teams == nil {
			return false, nil
		}
		member, err := req.Cache.teamMember(ctx, s.g.opts.Teams, name, v.by)
		if err != nil {
			return false, fmt.Errorf("is %s in team %s: %w", v.by, name, err)
		}
		return member, nil
	}
	return false, nil
}

// inGroups reports whether groups (OIDC groups) name the person as the
// approval.from entry f does: group:NAME, or team:NAME as ORG:TEAM.
func (s approvalSource) inGroups(f string, groups []string) bool {
	kind, name, ok := config.ParseApprover(f)
	if !ok || len(groups) == 0 {
		return false
	}
	switch kind {
	case config.ApproverGroup:
		return slices.Contains(groups, name)
	case config.ApproverTeam:
		org, team, qualified := strings.Cut(name, "/")
		if !qualified {
			org, team = s.g.teamOrg(), name
		}
		return org != "" && slices.Contains(groups, org+":"+team)
	}
	return false
}

// teamOrg is the owner of the fleet repo, the organization of a team:NAME.
func (g *Gate) teamOrg() string {
	owner, _, err := pullrequest.RepoFromURL(g.opts.Config.Git.URL)
	if err != nil {
		return ""
	}
	return owner
}

// approvalInput is input.environment.approval.
func approvalInput(a *config.Approval) map[string]any {
	return map[string]any{"required": a.Required, "from": stringsAny(a.From), "forbid_self": a.ForbidSelf,
		"expires_seconds": int64(a.Expires.Std() / time.Second)}
}

func stringsAny(ss []string) []any {
	out := make([]any, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out
}

func anyStrings(as []any) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, fmt.Sprint(a))
	}
	return out
}

// reviews asks the forge once per pass for a proposal's reviews.
func (c *Cache) reviews(ctx context.Context, r Reviews, app, env string, candidate ledger.Version) ([]pullrequest.Review, string, bool, error) {
	key := app + "\x00" + env + "\x00" + candidate.Tag + "\x00" + candidate.Digest
	if got, ok := c.proposals[key]; ok {
		return got.reviews, got.author, got.found, nil
	}
	reviews, author, found, err := r.ProposalReviews(ctx, app, env, candidate)
	if err != nil {
		return nil, "", false, err
	}
	c.proposals[key] = proposalReviews{reviews, author, found}
	return reviews, author, found, nil
}

// teamMember asks the forge once per pass whether user is in team.
func (c *Cache) teamMember(ctx context.Context, t Teams, team, user string) (bool, error) {
	key := team + "\x00" + user
	if got, ok := c.members[key]; ok {
		return got, nil
	}
	ok, err := t.TeamMember(ctx, team, user)
	if err != nil {
		return false, err
	}
	c.members[key] = ok
	return ok, nil
}

type proposalReviews struct {
	reviews []pullrequest.Review
	author  string
	found   bool
}

// satisfied is input with the approvals of the environment met: the quorum
// counted and no rejection. Deciding on it tells whether approvals are all
// the move waits for (Decision.AwaitingApproval).
func satisfied(input map[string]any) map[string]any {
	ev, _ := input["evidence"].(map[string]any)
	ap, _ := ev["approvals"].(map[string]any)
	if ap == nil {
		return nil
	}
	entries := []any{}
	for _, e := range ap["entries"].([]any) {
		if m, _ := e.(map[string]any); m["decision"] != gitstate.DecisionReject {
			entries = append(entries, e)
		}
	}
	met := map[string]any{"required": ap["required"], "count": ap["required"], "approved_by": ap["approved_by"],
		"rejected_by": []any{}, "entries": entries}
	evidence := maps.Clone(ev)
	evidence["approvals"] = met
	out := maps.Clone(input)
	out["evidence"] = evidence
	return out
}

// shortDuration writes 80h rather than 80h0m0s: to the minute from an
// hour, to the second under it (a vote cast 8s ago is not "0s" old).
func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour || d <= -time.Hour:
		d = d.Truncate(time.Minute)
	case d >= time.Second || d <= -time.Second:
		d = d.Truncate(time.Second)
	}
	return gitstate.DurationText(d)
}
