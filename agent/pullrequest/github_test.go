package pullrequest

// GitHub cannot run here, so these tests replay responses in the shapes the
// REST API documents (testdata/github, trimmed samples of
// https://docs.github.com/rest/pulls) from an httptest server, which checks
// each request's method, path, query, body and Authorization header. The
// server plays GitHub Enterprise, whose API lives under /api/v3/.

import (
	"context"
	"errors"
	"testing"
)

const ghToken = "ghp_testtoken0123456789"

func TestGitHub(t *testing.T) {
	const pulls = "/api/v3/repos/ferry-dev/fleet/pulls"
	open13 := PR{
		Number: 13, URL: "https://ghe.example/ferry-dev/fleet/pull/13", Title: "Promote checkout 1.5.0 to prod",
		Body: "## Gate report\n- soak: pending", Head: "ferry/prod/checkout", Base: "main", State: StateOpen, Author: "ferry-bot",
		UpdatedAt: at("2026-03-03T07:00:00Z"),
	}
	edited13 := open13
	edited13.Body, edited13.UpdatedAt = "## Gate report\n- soak: passed", at("2026-03-03T08:00:00Z")

	runCalls(t, KindGitHub, "ferry-dev/fleet", "Authorization", "Bearer "+ghToken, ghToken, []call{{
		name: "find follows pages, drops forks, maps states",
		script: []exchange{{
			method: "GET", path: pulls,
			query:  map[string]string{"state": "all", "head": "ferry-dev:ferry/prod/checkout", "per_page": "100"},
			status: 200, file: "github/list-page1.json",
			header: map[string]string{"Link": `<{{url}}/api/v3/repositories/1296269/pulls?state=all&head=ferry-dev%3Aferry%2Fprod%2Fcheckout&per_page=100&page=2>; rel="next", <{{url}}/api/v3/repositories/1296269/pulls?state=all&head=ferry-dev%3Aferry%2Fprod%2Fcheckout&per_page=100&page=2>; rel="last"`},
		}, {
			method: "GET", path: pulls,
			query:  map[string]string{"state": "all", "head": "ferry-dev:ferry/prod/checkout", "per_page": "100", "page": "2"},
			status: 200, file: "github/list-page2.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) { return p.Find(ctx, "ferry/prod/checkout") },
		want: []PR{{
			Number: 12, URL: "https://ghe.example/ferry-dev/fleet/pull/12", Title: "Promote checkout 1.4.2 to prod",
			Body: "## Gate report\n- soak: passed", Head: "ferry/prod/checkout", Base: "main", State: StateOpen, Author: "ferry-bot",
			UpdatedAt: at("2026-03-02T10:15:00Z"),
		}, {
			Number: 7, URL: "https://ghe.example/ferry-dev/fleet/pull/7", Title: "Promote checkout 1.4.1 to prod",
			Body: "## Gate report\n- soak: passed", Head: "ferry/prod/checkout", Base: "main", State: StateMerged, Author: "ferry-bot",
			MergeCommit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", UpdatedAt: at("2026-02-20T08:00:01Z"),
		}, {
			// merge_commit_sha is GitHub's test-merge commit for unmerged PRs: not reported.
			Number: 3, URL: "https://ghe.example/ferry-dev/fleet/pull/3", Title: "Promote checkout 1.3.0 to prod",
			Body: "superseded", Head: "ferry/prod/checkout", Base: "main", State: StateClosed, Author: "ferry-bot",
			UpdatedAt: at("2026-01-10T12:00:00Z"),
		}},
	}, {
		name: "open",
		script: []exchange{{
			method: "POST", path: pulls,
			body: map[string]any{
				"title": "Promote checkout 1.5.0 to prod", "head": "ferry/prod/checkout", "base": "main",
				"body": "## Gate report\n- soak: pending",
			},
			status: 201, file: "github/create.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Open(ctx, "ferry/prod/checkout", "main", "Promote checkout 1.5.0 to prod", "## Gate report\n- soak: pending")
		},
		want: open13,
	}, {
		name: "update body, keep title",
		script: []exchange{{
			method: "PATCH", path: pulls + "/13", body: map[string]any{"body": "## Gate report\n- soak: passed"},
			status: 200, file: "github/edit.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Update(ctx, 13, "", "## Gate report\n- soak: passed")
		},
		want: edited13,
	}, {
		name: "update title and body",
		script: []exchange{{
			method: "PATCH", path: pulls + "/13",
			body:   map[string]any{"title": "Promote checkout 1.5.0 to prod", "body": "## Gate report\n- soak: passed"},
			status: 200, file: "github/edit.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Update(ctx, 13, "Promote checkout 1.5.0 to prod", "## Gate report\n- soak: passed")
		},
		want: edited13,
	}, {
		name: "open when one exists names operation, repo and status",
		script: []exchange{{
			method: "POST", path: pulls,
			body:   map[string]any{"title": "t", "head": "ferry/prod/checkout", "base": "main", "body": "b"},
			status: 422, file: "github/error-422.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Open(ctx, "ferry/prod/checkout", "main", "t", "b")
		},
		wantErr: []string{"github: open pull request ferry/prod/checkout -> main in ferry-dev/fleet", "422", "A pull request already exists"},
	}, {
		name: "bad token",
		script: []exchange{{
			method: "PATCH", path: pulls + "/13", body: map[string]any{"body": "x"},
			status: 401, file: "github/error-401.json",
		}},
		do:      func(ctx context.Context, p *Client) (any, error) { return p.Update(ctx, 13, "", "x") },
		wantErr: []string{"update pull request #13 in ferry-dev/fleet", "401 Bad credentials"},
	}, {
		name:    "empty head",
		do:      func(ctx context.Context, p *Client) (any, error) { return p.Find(ctx, "") },
		wantErr: []string{"empty head branch"},
	}})
}

func TestGitHubCanceled(t *testing.T) {
	srv := replay(t, "Authorization", "Bearer "+ghToken, nil)
	p, err := New(Config{Kind: KindGitHub, URL: srv.URL, Token: ghToken, Repo: "ferry-dev/fleet", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Find(ctx, "ferry/prod/checkout"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Find under a canceled context: %v, want context.Canceled", err)
	}
}
