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
// of app's branch for env whose title names version; found is false when
// there is none (not opened yet, merged, closed, or for another version).
// A review given on a commit that proposed another version, or on a commit
// the clone does not have (fetched with the branch at the next proposal),
// is left out; a review that names no commit (GitLab) is kept.
func (r ProposalReviews) ProposalReviews(ctx context.Context, app, env, version string) ([]pullrequest.Review, string, bool, error) {
	branch, title := ProposalBranch(app, env), ProposalTitle(app, version, env)
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
		proposes := map[string]bool{}
		var kept []pullrequest.Review
		for _, rv := range rs {
			if rv.Commit == "" {
				kept = append(kept, rv)
				continue
			}
			ok, seen := proposes[rv.Commit]
			if !seen {
				ok = r.proposes(ctx, rv.Commit, app, env, version)
				proposes[rv.Commit] = ok
			}
			if ok {
				kept = append(kept, rv)
			}
		}
		return kept, pr.Author, true, nil
	}
	return nil, "", false, nil
}

// proposes reports whether commit's record moves version of app into env.
// Any failure to read it is a no: when in doubt a review does not count.
func (r ProposalReviews) proposes(ctx context.Context, commit, app, env, version string) bool {
	snap, err := r.Commits.Snapshot(commit)
	if err != nil || snap == nil {
		return false
	}
	msg := ""
	err = r.Commits.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
		msg = c.Message
		return false, nil
	})
	if err != nil {
		return false
	}
	switch rec := ledger.Parse(msg).(type) {
	case *ledger.Promotion:
		return rec.App == app && rec.Env == env && rec.Version.Tag == version
	case *ledger.CanaryStep:
		return rec.App == app && rec.Env == env && rec.Version.Tag == version
	}
	return false
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
