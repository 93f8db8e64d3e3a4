package promote

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// ProposalTitle is the title of the pull request that proposes version of
// app for env: it names the version, so a closed pull request refuses that
// version only and reviews are found for the version they approved.
func ProposalTitle(app, version, env string) string {
	return fmt.Sprintf("promote %s %s to %s", app, version, env)
}

// ReviewSource is the forge API the gate's approval evidence reads
// (*pullrequest.Client).
type ReviewSource interface {
	Find(ctx context.Context, head string) ([]pullrequest.PR, error)
	Reviews(ctx context.Context, number int) ([]pullrequest.Review, error)
}

// CommitLog reads the commits of the fleet repo's clone (*fleet.Repo).
type CommitLog interface {
	Snapshot(hash string) (*fleet.Snapshot, error)
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
}

// ProposalReviews finds the reviews of a proposal for the gate.
type ProposalReviews struct {
	Forge ReviewSource
	// Commits, when set, reads the commit each review was given on: a
	// review of the branch while it proposed another version (ferry updates
	// one pull request per app and env) does not approve this one.
	Commits CommitLog
}

// ProposalReviews returns the reviews and author of the open pull request
// of app's branch for env whose title names candidate's tag; found is
// false when there is none (not opened yet, merged, closed, or for another
// version). A review given on a commit whose record does not propose
// candidate (another version, another digest of the tag: its Ferry-Digest),
// on a commit that is not ferry's proposal, or on a commit the clone does
// not have (fetched with the branch at the next proposal) carries why in
// LeftOut and does not count; a review that names no commit (GitLab) is
// kept.
func (r ProposalReviews) ProposalReviews(ctx context.Context, app, env string, candidate ledger.Version) ([]pullrequest.Review, string, bool, error) {
	branch, title := ProposalBranch(app, env), ProposalTitle(app, candidate.Tag, env)
	prs, err := r.Forge.Find(ctx, branch)
	if err != nil {
		return nil, "", false, fmt.Errorf("find the pull request of %s: %w", branch, err)
	}
	for _, pr := range prs {
		if pr.State != pullrequest.StateOpen || pr.Title != title {
			continue
		}
		rs, err := r.Forge.Reviews(ctx, pr.Number)
		if err != nil {
			return nil, "", false, fmt.Errorf("reviews of pull request #%d: %w", pr.Number, err)
		}
		if r.Commits == nil {
			return rs, pr.Author, true, nil
		}
		leftOut := map[string]string{}
		out := make([]pullrequest.Review, 0, len(rs))
		for _, rv := range rs {
			if rv.Commit != "" {
				why, seen := leftOut[rv.Commit]
				if !seen {
					why = r.proposes(ctx, rv.Commit, app, env, candidate)
					leftOut[rv.Commit] = why
				}
				rv.LeftOut = why
			}
			out = append(out, rv)
		}
		return out, pr.Author, true, nil
	}
	return nil, "", false, nil
}

// proposes says why a review given on commit does not count for
// candidate of app in env: "" when commit's record moves that tag and
// digest into env. Any failure to read it is a reason: when in doubt a
// review does not count.
func (r ProposalReviews) proposes(ctx context.Context, commit, app, env string, candidate ledger.Version) string {
	unread := "given on a commit ferry has not read (" + ledger.ShortHash(commit) + ")"
	snap, err := r.Commits.Snapshot(commit)
	if err != nil || snap == nil {
		return unread
	}
	msg := ""
	err = r.Commits.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
		msg = c.Message
		return false, nil
	})
	if err != nil {
		return unread
	}
	var recApp, recEnv string
	var v ledger.Version
	switch rec := ledger.Parse(msg).(type) {
	case *ledger.Promotion:
		recApp, recEnv, v = rec.App, rec.Env, rec.Version
	case *ledger.CanaryStep:
		recApp, recEnv, v = rec.App, rec.Env, rec.Version
	default:
		return "given on a commit that is not ferry's proposal (" + ledger.ShortHash(commit) + ")"
	}
	switch {
	case recApp != app || recEnv != env:
		return "given on a commit that is not ferry's proposal (" + ledger.ShortHash(commit) + ")"
	case v.Tag != candidate.Tag:
		return "given for another version (" + v.Tag + ")"
	case v.Digest != candidate.Digest:
		return "given for another digest (" + ledger.ShortDigest(v.Digest) + ")"
	}
	return ""
}

// TeamSource is the forge's team membership (*pullrequest.Client).
type TeamSource interface {
	TeamMember(ctx context.Context, org, team, user string) (bool, error)
}

// Teams resolves the teams of approval.from entries: team:NAME is a team of
// Owner (the fleet repo's owner on the forge, pullrequest.RepoFromURL of
// git.url), team:ORG/NAME names its organization.
type Teams struct {
	Forge TeamSource
	Owner string
}

// TeamMember reports whether user belongs to team as written after
// "team:" in ferry.yaml.
func (t Teams) TeamMember(ctx context.Context, team, user string) (bool, error) {
	org, name := t.Owner, team
	if i := strings.LastIndex(team, "/"); i >= 0 {
		org, name = team[:i], team[i+1:]
	}
	if org == "" {
		return false, fmt.Errorf("team:%s: no organization (the fleet repo's owner is unknown; write team:ORG/NAME)", team)
	}
	ok, err := t.Forge.TeamMember(ctx, org, name, user)
	if err != nil {
		return false, fmt.Errorf("team:%s: %w", team, err)
	}
	return ok, nil
}
