package pullrequest

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		wantType forge // zero value of the expected provider type
		wantErr  string
		is       error
	}{
		{name: "gitea", cfg: Config{Kind: "gitea", URL: "http://127.0.0.1:3000", Token: "t", Repo: "ferry/fleet"}, wantType: &giteaProvider{}},
		{name: "github.com", cfg: Config{Kind: "github", Token: "t", Repo: "ferry-dev/fleet"}, wantType: &githubProvider{}},
		{name: "github enterprise", cfg: Config{Kind: "github", URL: "https://ghe.example", Token: "t", Repo: "ferry-dev/fleet"}, wantType: &githubProvider{}},
		{name: "gitlab.com", cfg: Config{Kind: "gitlab", Token: "t", Repo: "platform/team/fleet"}, wantType: &gitlabProvider{}},
		{name: "self-managed gitlab", cfg: Config{Kind: "gitlab", URL: "https://gitlab.example", Token: "t", Repo: "a/b"}, wantType: &gitlabProvider{}},

		{name: "unknown kind", cfg: Config{Kind: "bitbucket", Token: "t", Repo: "a/b"},
			wantErr: `unknown pull-request provider kind "bitbucket" (known: gitea, github, gitlab)`, is: ErrUnknownKind},
		{name: "empty kind", cfg: Config{Token: "t", Repo: "a/b"}, wantErr: `kind "" (known: gitea, github, gitlab)`, is: ErrUnknownKind},
		{name: "kind is case-sensitive", cfg: Config{Kind: "GitHub", Token: "t", Repo: "a/b"}, is: ErrUnknownKind},
		{name: "no token", cfg: Config{Kind: "github", Repo: "a/b"}, wantErr: `github pull-request provider for "a/b": token is empty`},
		{name: "gitea without url", cfg: Config{Kind: "gitea", Token: "t", Repo: "a/b"}, wantErr: "url is empty"},
		{name: "gitea url without scheme", cfg: Config{Kind: "gitea", URL: "127.0.0.1:3000", Token: "t", Repo: "a/b"}, wantErr: "want http(s)://host"},
		{name: "repo without owner", cfg: Config{Kind: "github", Token: "t", Repo: "fleet"}, wantErr: `github repo "fleet": want owner/name`},
		{name: "repo with trailing slash", cfg: Config{Kind: "gitea", URL: "http://h", Token: "t", Repo: "a/"}, wantErr: "want owner/name"},
		{name: "github has no subgroups", cfg: Config{Kind: "github", Token: "t", Repo: "a/b/c"}, wantErr: "no further slashes"},
		{name: "gitlab empty group segment", cfg: Config{Kind: "gitlab", Token: "t", Repo: "a//c"}, wantErr: "empty path segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.cfg)
			if tt.wantErr != "" || tt.is != nil {
				if err == nil {
					t.Fatalf("New(%v) = %T; want an error", tt.cfg, p)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if tt.is != nil && !errors.Is(err, tt.is) {
					t.Errorf("error %q is not %v", err, tt.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(p.f) != reflect.TypeOf(tt.wantType) {
				t.Fatalf("New(%v) = %T; want %T", tt.cfg, p.f, tt.wantType)
			}
		})
	}
}

func TestGitHubBaseURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"", "https://api.github.com/"},
		{"https://ghe.example", "https://ghe.example/api/v3/"},
		{"https://ghe.example/api/v3", "https://ghe.example/api/v3/"},
	} {
		p, err := New(Config{Kind: KindGitHub, URL: tt.url, Token: "t", Repo: "a/b"})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.f.(*githubProvider).c.BaseURL.String(); got != tt.want {
			t.Errorf("URL %q: API base %s, want %s", tt.url, got, tt.want)
		}
	}
}

func TestGitLabBaseURL(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"", "https://gitlab.com/api/v4/"},
		{"https://gitlab.example", "https://gitlab.example/api/v4/"},
	} {
		p, err := New(Config{Kind: KindGitLab, URL: tt.url, Token: "t", Repo: "a/b"})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.f.(*gitlabProvider).c.BaseURL().String(); got != tt.want {
			t.Errorf("URL %q: API base %s, want %s", tt.url, got, tt.want)
		}
	}
}

func TestConfigHidesToken(t *testing.T) {
	const token = "glpat-supersecret"
	c := Config{Kind: KindGitLab, URL: "https://gitlab.example", Token: token, Repo: "a/b"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("provider", "config", c)
	for _, out := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s %#v", c, c, c, c), logged.String()} {
		if strings.Contains(out, token) {
			t.Errorf("token shown: %s", out)
		}
		if !strings.Contains(out, "a/b") {
			t.Errorf("repo missing: %s", out)
		}
	}
}
