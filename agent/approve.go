// People's votes on a version: `ferry approve|reject`, the dashboard.

package agent

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// Approve records by's approval of version of app for env in
// .ferry/approvals.yaml, one commit (an approval record naming them). The
// gate counts it toward env's approval: quorum. groups are by's OIDC
// groups (the dashboard's sign-in), nil from the CLI. It refuses an
// environment without approval:, and a version the registry does not
// have (the vote records the digest the tag names, and counts for that
// digest only); under git.verifyCommits require, a file whose last change is
// unverified. It returns "" when the same vote is there already.
func (a *Agent) Approve(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	return a.vote(ctx, app, version, env, by, groups, reason, false)
}

// Reject records by's rejection of version of app for env: it blocks the
// version there until they approve it instead. Otherwise as Approve.
func (a *Agent) Reject(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	return a.vote(ctx, app, version, env, by, groups, reason, true)
}

func (a *Agent) vote(ctx context.Context, appName, version, envName string, by ledger.Actor, groups []string, reason string, reject bool) (string, error) {
	app, env, err := a.target(appName, envName, by, reason)
	if err != nil {
		return "", err
	}
	if env.Approval == nil && env.Mirror != "" {
		// Config refuses approval: on a mirror: the votes that gate what
		// it follows are its source's.
		verb := "approve"
		if reject {
			verb = "reject"
		}
		return "", fmt.Errorf("%s mirrors %s (it follows %s exactly and has no gate of its own): vote for %s instead, `ferry %s %s %s --env %s`; nothing written",
			env.Name, env.Mirror, env.Mirror, env.Mirror, verb, app.Name, version, env.Mirror)
	}
	if env.Approval == nil {
		return "", fmt.Errorf("%s has no approval: in %s, so no vote counts there; add one (e.g. approval: {required: 1}) to collect approvals", env.Name, a.full.Source)
	}
	// The version must exist: a vote on a typo would sit in the file
	// unnoticed, and count were the tag pushed later. The vote is bound to
	// the digest the tag names now: re-pushed, the tag needs new votes.
	v, err := a.resolveTag(ctx, app, version)
	if err != nil {
		return "", err
	}
	kept := recordable(groups)
	if len(kept) < len(groups) {
		a.obs.Log.Info("vote: groups the approvals record cannot hold are left out (no approval.from entry can name them)",
			"app", app.Name, "env", env.Name, "by", by.String(), "recorded", kept, "all", groups)
	}
	e := gitstate.ApprovalEntry{App: app.Name, Env: env.Name, Version: version, Digest: v.Digest, By: by.Name, Via: by.Via, Groups: kept,
		Decision: gitstate.DecisionApprove, At: a.now().UTC(), Reason: ledger.OneLine(reason)}
	if reject {
		e.Decision = gitstate.DecisionReject
	}
	rec := &ledger.Approval{App: app.Name, Env: env.Name, Version: version, By: by, Reject: reject, Reason: e.Reason}
	commit, err := a.EditFile(ctx, gitstate.ApprovalsFile, func(data []byte) ([]byte, bool, error) {
		out, err := gitstate.AddApproval(data, e)
		if err != nil {
			return nil, false, err
		}
		return out, !bytes.Equal(out, data), nil
	}, rec)
	if err != nil {
		return "", err
	}
	if commit != "" {
		a.obs.Log.Info("vote recorded", "app", app.Name, "env", env.Name, "version", version, "by", by.String(), "decision", e.Decision,
			"commit", ledger.ShortHash(commit))
		a.acted()
	}
	return commit, nil
}

// recordable are the groups the approvals record can hold. A group it
// cannot ("Product Owners": a space) could never match an approval.from
// group: entry, whose names config validation restricts the same way, so
// it is left out rather than refusing the person's vote.
func recordable(groups []string) []string {
	var out []string
	for _, g := range groups {
		if gitstate.GroupProblem(g) == "" {
			out = append(out, g)
		}
	}
	return out
}
