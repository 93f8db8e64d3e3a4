package pullrequest

import (
	"context"
	"testing"
)

// Replays of the approvals, membership and merge endpoints
// (testdata/gitlab/SOURCES.md names the documentation page of each sample).
func TestGitLabApprovals(t *testing.T) {
	const mrs = "/api/v4/projects/platform%2Fteam%2Ffleet/merge_requests"
	const group = "/api/v4/groups/platform%2Fteam%2Fproduct-owners"
	runCalls(t, KindGitLab, "platform/team/fleet", "PRIVATE-TOKEN", glToken, glToken, []call{{
		// GitLab's approvals carry no time, no commit and no "request changes".
		name: "approvals",
		script: []exchange{{
			method: "GET", path: mrs + "/13/approvals", status: 200, file: "gitlab/approvals.json",
		}},
		do:   func(ctx context.Context, p *Client) (any, error) { return p.Reviews(ctx, 13) },
		want: []Review{{User: "bob", State: ReviewApproved}, {User: "alice", State: ReviewApproved}},
	}, {
		name: "a member of the subgroup, inherited members included",
		script: []exchange{{
			method: "GET", path: "/api/v4/users", query: map[string]string{"username": "bob"}, status: 200, file: "gitlab/users-bob.json",
		}, {
			method: "GET", path: group + "/members/all/2", status: 200, file: "gitlab/member.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "platform/team", "product-owners", "bob")
		},
		want: true,
	}, {
		name: "not a member of a group that exists",
		script: []exchange{{
			method: "GET", path: "/api/v4/users", query: map[string]string{"username": "bob"}, status: 200, file: "gitlab/users-bob.json",
		}, {
			method: "GET", path: group + "/members/all/2", status: 404, file: "gitlab/error-404.json",
		}, {
			method: "GET", path: group, status: 200, file: "gitlab/group.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "platform/team", "product-owners", "bob")
		},
		want: false,
	}, {
		name: "an unknown user is no member",
		script: []exchange{{
			method: "GET", path: "/api/v4/users", query: map[string]string{"username": "mallory"}, status: 200, file: "gitlab/users-none.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "platform/team", "product-owners", "mallory")
		},
		want: false,
	}, {
		name: "an unknown group is an error",
		script: []exchange{{
			method: "GET", path: "/api/v4/users", query: map[string]string{"username": "bob"}, status: 200, file: "gitlab/users-bob.json",
		}, {
			method: "GET", path: "/api/v4/groups/platform%2Fteam%2Frelease/members/all/2", status: 404, file: "gitlab/error-404.json",
		}, {
			method: "GET", path: "/api/v4/groups/platform%2Fteam%2Frelease", status: 404, file: "gitlab/error-404.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.TeamMember(ctx, "platform/team", "release", "bob")
		},
		wantErr: []string{"no such team: group platform/team/release"},
	}, {
		name: "merge with the record as the merge commit message",
		script: []exchange{{
			method: "PUT", path: mrs + "/13/merge",
			body: map[string]any{"merge_commit_message": "promote checkout 1.5.0 to prod\n\nFerry-Approved-By: bob (review, team:product-owners)",
				"sha": "0fe2ae0c58f1b6b1f6cd7b4d5e3b1e2f3a4b5c6d"},
			status: 200, file: "gitlab/merge.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return nil, p.MergeHead(ctx, 13, "0fe2ae0c58f1b6b1f6cd7b4d5e3b1e2f3a4b5c6d", "promote checkout 1.5.0 to prod", "Ferry-Approved-By: bob (review, team:product-owners)")
		},
		want: nil,
	}, {
		name: "a merge GitLab refuses names the merge request",
		script: []exchange{{
			method: "PUT", path: mrs + "/13/merge", body: map[string]any{"merge_commit_message": "t\n\nm"},
			status: 405, file: "gitlab/error-405.json",
		}},
		do:      func(ctx context.Context, p *Client) (any, error) { return nil, p.Merge(ctx, 13, "t", "m") },
		wantErr: []string{"gitlab: merge merge request !13 in platform/team/fleet", "405"},
	}})
}
