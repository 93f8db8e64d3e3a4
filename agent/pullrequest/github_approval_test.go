package pullrequest

import (
	"context"
	"testing"
)

// Replays of the review, team and merge endpoints (testdata/github/SOURCES.md
// names the documentation page of each sample).
func TestGitHubApprovals(t *testing.T) {
	const pulls = "/api/v3/repos/ferry-dev/fleet/pulls"
	const team = "/api/v3/orgs/ferry-dev/teams/product-owners"
	runCalls(t, KindGitHub, "ferry-dev/fleet", "Authorization", "Bearer "+ghToken, ghToken, []call{{
		name: "reviews follow pages, oldest first, states mapped",
		script: []exchange{{
			method: "GET", path: pulls + "/13/reviews", query: map[string]string{"per_page": "100"},
			status: 200, file: "github/reviews-page1.json",
			header: map[string]string{"Link": `<{{url}}/api/v3/repositories/1/pulls/13/reviews?per_page=100&page=2>; rel="next"`},
		}, {
			method: "GET", path: pulls + "/13/reviews", query: map[string]string{"per_page": "100", "page": "2"},
			status: 200, file: "github/reviews-page2.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) { return p.Reviews(ctx, 13) },
		want: []Review{
			{User: "alice", State: ReviewApproved, SubmittedAt: at("2026-03-03T09:00:00Z"), Commit: "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"},
			{User: "bob", State: ReviewRejected, SubmittedAt: at("2026-03-03T09:05:00Z"), Commit: "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"},
			{User: "carol", State: "commented", SubmittedAt: at("2026-03-03T09:10:00Z"), Commit: "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"},
			{User: "dave", State: "dismissed", SubmittedAt: at("2026-03-03T09:15:00Z"), Commit: "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"},
			{User: "bob", State: ReviewApproved, SubmittedAt: at("2026-03-03T09:20:00Z"), Commit: "0fe2ae0c58f1b6b1f6cd7b4d5e3b1e2f3a4b5c6d"},
		},
	}, {
		name: "an active member",
		script: []exchange{{
			method: "GET", path: team + "/memberships/bob", status: 200, file: "github/membership-active.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "ferry-dev", "product-owners", "bob")
		},
		want: true,
	}, {
		name: "an invitation is not membership",
		script: []exchange{{
			method: "GET", path: team + "/memberships/erin", status: 200, file: "github/membership-pending.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "ferry-dev", "product-owners", "erin")
		},
		want: false,
	}, {
		name: "not a member of a team that exists",
		script: []exchange{{
			method: "GET", path: team + "/memberships/alice", status: 404, file: "github/error-404.json",
		}, {
			method: "GET", path: team, status: 200, file: "github/team.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "ferry-dev", "product-owners", "alice")
		},
		want: false,
	}, {
		name: "an unknown team is an error",
		script: []exchange{{
			method: "GET", path: "/api/v3/orgs/ferry-dev/teams/release/memberships/bob", status: 404, file: "github/error-404.json",
		}, {
			method: "GET", path: "/api/v3/orgs/ferry-dev/teams/release", status: 404, file: "github/error-404.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "ferry-dev", "release", "bob")
		},
		wantErr: []string{"no such team release in organization ferry-dev"},
	}, {
		name: "a path in a team name is refused",
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "ferry-dev", "../x", "bob")
		},
		wantErr: []string{`"../x" is not a valid name`},
	}, {
		name: "merge with the record as the commit message",
		script: []exchange{{
			method: "PUT", path: pulls + "/13/merge",
			body: map[string]any{
				"commit_title": "promote checkout 1.5.0 to prod", "merge_method": "merge",
				"commit_message": "Ferry-App: checkout\nFerry-Approved-By: bob (review, team:product-owners)",
				"sha":            "0fe2ae0c58f1b6b1f6cd7b4d5e3b1e2f3a4b5c6d",
			},
			status: 200, file: "github/merge.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return nil, p.MergeHead(ctx, 13, "0fe2ae0c58f1b6b1f6cd7b4d5e3b1e2f3a4b5c6d", "promote checkout 1.5.0 to prod", "Ferry-App: checkout\nFerry-Approved-By: bob (review, team:product-owners)")
		},
		want: nil,
	}, {
		name: "a merge GitHub refuses names the pull request and the reason",
		script: []exchange{{
			method: "PUT", path: pulls + "/13/merge",
			body:   map[string]any{"commit_title": "t", "merge_method": "merge", "commit_message": "m"},
			status: 405, file: "github/error-405.json",
		}},
		do:      func(ctx context.Context, p *Client) (any, error) { return nil, p.Merge(ctx, 13, "t", "m") },
		wantErr: []string{"github: merge pull request #13 in ferry-dev/fleet", "405 Pull Request is not mergeable"},
	}, {
		name: "a head that moved is refused",
		script: []exchange{{
			method: "PUT", path: pulls + "/13/merge",
			body:   map[string]any{"commit_title": "t", "merge_method": "merge", "commit_message": "m", "sha": "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"},
			status: 409, file: "github/error-409.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return nil, p.MergeHead(ctx, 13, "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091", "t", "m")
		},
		wantErr: []string{"merge pull request #13", "409 Head branch was modified"},
	}, {
		name:    "MergeHead needs a head",
		do:      func(ctx context.Context, p *Client) (any, error) { return nil, p.MergeHead(ctx, 13, "", "t", "m") },
		wantErr: []string{"no head commit"},
	}})
}
