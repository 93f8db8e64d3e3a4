package pullrequest

// GitLab cannot run here, so these tests replay responses in the shapes the
// REST API documents (testdata/gitlab, trimmed samples of
// https://docs.gitlab.com/api/merge_requests/ and /api/notes/) from an
// httptest server, which checks each request's method, path, query, body and
// PRIVATE-TOKEN header. The project sits in a subgroup, so its path is sent
// URL-encoded in place of the project ID.

import (
	"context"
	"errors"
	"testing"
)

const glToken = "glpat-testtoken0123456789"

func TestGitLab(t *testing.T) {
	const mrs = "/api/v4/projects/platform%2Fteam%2Ffleet/merge_requests"
	listQuery := map[string]string{
		"source_branch": "ferry/prod/checkout", "order_by": "created_at", "sort": "desc", "per_page": "100",
	}
	page2 := map[string]string{"page": "2"}
	for k, v := range listQuery {
		page2[k] = v
	}
	open13 := PR{
		Number: 13, URL: "https://gitlab.example/platform/team/fleet/-/merge_requests/13", Title: "Promote checkout 1.5.0 to prod",
		Body: "## Gate report\n- soak: pending", Head: "ferry/prod/checkout", Base: "main", State: StateOpen, Author: "ferry-bot",
		UpdatedAt: at("2026-03-03T07:00:00Z"),
	}
	edited13 := open13
	edited13.Body, edited13.UpdatedAt = "## Gate report\n- soak: passed", at("2026-03-03T08:00:00Z")
	mrURL := func(n string) string { return "https://gitlab.example/platform/team/fleet/-/merge_requests/" + n }

	runCalls(t, KindGitLab, "platform/team/fleet", "PRIVATE-TOKEN", glToken, glToken, []call{{
		name: "find follows pages, drops forks, maps states",
		script: []exchange{{
			method: "GET", path: mrs, query: listQuery, status: 200, file: "gitlab/list-page1.json",
			header: map[string]string{"X-Next-Page": "2", "X-Page": "1", "X-Per-Page": "100", "X-Total": "6", "X-Total-Pages": "2"},
		}, {
			method: "GET", path: mrs, query: page2, status: 200, file: "gitlab/list-page2.json",
			header: map[string]string{"X-Next-Page": "", "X-Page": "2", "X-Per-Page": "100", "X-Total": "6", "X-Total-Pages": "2"},
		}},
		do: func(ctx context.Context, p *Client) (any, error) { return p.Find(ctx, "ferry/prod/checkout") },
		want: []PR{{
			Number: 12, URL: mrURL("12"), Title: "Promote checkout 1.4.2 to prod", Body: "## Gate report\n- soak: passed",
			Head: "ferry/prod/checkout", Base: "main", State: StateOpen, Author: "ferry-bot", UpdatedAt: at("2026-03-02T10:15:00Z"),
		}, {
			Number: 9, URL: mrURL("9"), Title: "Promote checkout 1.4.1-rc to prod", Body: "merging",
			Head: "ferry/prod/checkout", Base: "main", State: StateOpen, Author: "ferry-bot", UpdatedAt: at("2026-02-25T08:00:00Z"),
		}, {
			Number: 7, URL: mrURL("7"), Title: "Promote checkout 1.4.1 to prod", Body: "## Gate report",
			Head: "ferry/prod/checkout", Base: "main", State: StateMerged, Author: "ferry-bot",
			MergeCommit: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", UpdatedAt: at("2026-02-20T08:00:01Z"),
		}, {
			Number: 5, URL: mrURL("5"), Title: "Promote checkout 1.3.1 to prod", Body: "## Gate report",
			Head: "ferry/prod/checkout", Base: "main", State: StateMerged, Author: "ferry-bot",
			MergeCommit: "5555555555555555555555555555555555555555", UpdatedAt: at("2026-02-01T08:00:00Z"),
		}, {
			Number: 3, URL: mrURL("3"), Title: "Promote checkout 1.3.0 to prod", Body: "superseded",
			Head: "ferry/prod/checkout", Base: "main", State: StateClosed, Author: "ferry-bot", UpdatedAt: at("2026-01-10T12:00:00Z"),
		}},
	}, {
		name: "open",
		script: []exchange{{
			method: "POST", path: mrs,
			body: map[string]any{
				"title": "Promote checkout 1.5.0 to prod", "description": "## Gate report\n- soak: pending",
				"source_branch": "ferry/prod/checkout", "target_branch": "main",
			},
			status: 201, file: "gitlab/create.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Open(ctx, "ferry/prod/checkout", "main", "Promote checkout 1.5.0 to prod", "## Gate report\n- soak: pending")
		},
		want: open13,
	}, {
		name: "update description, keep title",
		script: []exchange{{
			method: "PUT", path: mrs + "/13", body: map[string]any{"description": "## Gate report\n- soak: passed"},
			status: 200, file: "gitlab/update.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Update(ctx, 13, "", "## Gate report\n- soak: passed")
		},
		want: edited13,
	}, {
		name: "update title and description",
		script: []exchange{{
			method: "PUT", path: mrs + "/13",
			body:   map[string]any{"title": "Promote checkout 1.5.0 to prod", "description": "## Gate report\n- soak: passed"},
			status: 200, file: "gitlab/update.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Update(ctx, 13, "Promote checkout 1.5.0 to prod", "## Gate report\n- soak: passed")
		},
		want: edited13,
	}, {
		name: "open when one exists names operation, project and status",
		script: []exchange{{
			method: "POST", path: mrs,
			body:   map[string]any{"title": "t", "description": "b", "source_branch": "ferry/prod/checkout", "target_branch": "main"},
			status: 409, file: "gitlab/error-409.json",
		}},
		do: func(ctx context.Context, p *Client) (any, error) {
			return p.Open(ctx, "ferry/prod/checkout", "main", "t", "b")
		},
		wantErr: []string{"gitlab: open merge request ferry/prod/checkout -> main in platform/team/fleet", "409", "Another open merge request already exists"},
	}, {
		name: "bad token",
		script: []exchange{{
			method: "PUT", path: mrs + "/13", body: map[string]any{"description": "x"},
			status: 401, file: "gitlab/error-401.json",
		}},
		do:      func(ctx context.Context, p *Client) (any, error) { return p.Update(ctx, 13, "", "x") },
		wantErr: []string{"update merge request !13 in platform/team/fleet", "401 Unauthorized"},
	}, {
		name:    "empty head",
		do:      func(ctx context.Context, p *Client) (any, error) { return p.Find(ctx, "") },
		wantErr: []string{"empty head branch"},
	}})
}

func TestGitLabCanceled(t *testing.T) {
	srv := replay(t, "PRIVATE-TOKEN", glToken, nil)
	p, err := New(Config{Kind: KindGitLab, URL: srv.URL, Token: glToken, Repo: "platform/team/fleet", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Find(ctx, "ferry/prod/checkout"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Find under a canceled context: %v, want context.Canceled", err)
	}
}
