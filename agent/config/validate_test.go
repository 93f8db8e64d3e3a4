package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckGitURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // substring of the problem; "" when valid
	}{
		{"http://127.0.0.1:8081/fleet.git", ""},
		{"https://git.example/org/fleet.git", ""},
		{"ssh://git@git.example:2222/org/fleet.git", ""},
		{"git@github.com:org/fleet.git", ""},
		{"file:///srv/git/fleet.git", ""},
		{"/srv/git/fleet.git", ""},
		{"../fleet", ""},
		{"fleet", ""},
		{"", "required"},
		{"ftp://git.example/fleet.git", `scheme "ftp" is not supported`},
		{"git://git.example/fleet.git", `scheme "git" is not supported`},
		{"https:///fleet.git", "has no host"},
		{"file://", "has no path"},
		{"https://token@git.example/fleet.git", "must not carry credentials"},
		{"ssh://git:pw@git.example/fleet.git", "must not carry a password"},
		{"https://git.example/my fleet.git", "spaces"},
		{"https://git.example/\x00", "control characters"},
		{"https://[::1/fleet.git", "not a valid URL"},
	}
	for _, tt := range tests {
		got := checkGitURL(tt.url)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("checkGitURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}

// TestValidateBuiltInCode: a pipeline made in Go (no YAML positions) is
// validated the same way, errors naming the path without line:col.
func TestValidateBuiltInCode(t *testing.T) {
	valid := func() *Pipeline {
		return &Pipeline{
			APIVersion: APIVersion, Kind: Kind,
			Git:  Git{URL: "file:///tmp/fleet"},
			Apps: []App{{Name: "web", Image: "registry.example/web", Tags: TagPolicy{Semver: ">=1"}}},
			Environments: []Environment{
				{Name: "dev", Overlay: "overlays/dev", Auto: true},
				{Name: "prod", Overlay: "overlays/prod", From: "dev", PullRequest: true},
			},
		}
	}
	tests := []struct {
		name   string
		mutate func(*Pipeline)
		want   string
	}{
		{"valid", func(*Pipeline) {}, ""},
		{"wrong kind", func(p *Pipeline) { p.Kind = "Kustomization" }, `kind: "Kustomization" is not supported; want "Pipeline"`},
		{"cycle", func(p *Pipeline) { p.Environments[0].From = "prod" }, "environments[0].from: cycle dev -> prod -> dev"},
		{"source named", func(p *Pipeline) { p.Source = "mem"; p.Apps[0].Name = "" }, "mem: apps[0].name: required"},
		{"policies outside the repo", func(p *Pipeline) { p.Policies = "../outside" }, `policies: "../outside" escapes the fleet repo`},
		{"absolute policies", func(p *Pipeline) { p.Policies = "/etc" }, `policies: "/etc" must be relative to the fleet repo root`},
		// The message names the key that holds the secret instead.
		{"prometheus credentials", func(p *Pipeline) {
			p.Providers.Prometheus = &PrometheusProvider{Address: "http://u:p@127.0.0.1:9090"}
		}, "providers.prometheus.address: must not carry credentials (they would reach logs); use providers.prometheus.bearerTokenFile"},
		{"approval", func(p *Pipeline) {
			p.Environments[1].Approval = &Approval{Required: 2, From: []string{"team:shop/product-owners", "user:alice", "group:shop:release"}, ForbidSelf: true, Expires: Duration(72 * time.Hour)}
		}, ""},
		{"approval expires negative", func(p *Pipeline) {
			p.Environments[1].Approval = &Approval{Required: 1, Expires: -1}
		}, "environments[1].approval.expires: must not be negative"},
		{"approval empty name", func(p *Pipeline) {
			p.Environments[1].Approval = &Approval{Required: 1, From: []string{"group:"}}
		}, `environments[1].approval.from[0]: "group:" needs a name after group: (no spaces around it)`},
		{"two errors", func(p *Pipeline) { p.Git.URL = ""; p.Environments[1].Overlay = "overlays/dev" },
			"git.url: required (http(s)://, ssh://, git@host:path, file:// or a local path)\n" +
				`environments[1].overlay: "overlays/dev" is also written by environments[0] (dev)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.mutate(p)
			err := p.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != 0 {
				t.Errorf("want an unlocated *Error, got %#v", ce)
			}
		})
	}
}

func TestDefaultsKeepExplicitValues(t *testing.T) {
	src := `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: fleet, branch: trunk, author: {name: bot}, interval: 5s, timeout: 2s}
registry: {interval: 7s, requestsPerSecond: 0.5}
webhooks: {maxBodyBytes: 10}
policies: gates
apps:
  - {name: a, image: r.example/a, tags: {regex: x}}
  - {name: b, image: r.example/b, tags: {regex: x, order: alphabetical}, interval: 1s}
environments: []
`
	p, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	g := p.Git
	checks := []struct {
		name      string
		got, want any
	}{
		{"branch", g.Branch, "trunk"},
		{"author.name", g.Author.Name, "bot"},
		{"author.email", g.Author.Email, DefaultAuthorEmail},
		{"git.interval", g.Interval.Std().String(), "5s"},
		{"git.timeout", g.Timeout.Std().String(), "2s"},
		{"registry.interval", p.Registry.Interval.Std().String(), "7s"},
		{"requestsPerSecond", p.Registry.RequestsPerSecond, 0.5},
		{"maxBodyBytes", p.Webhooks.MaxBodyBytes, int64(10)},
		{"policies", p.Policies, "gates"},
		{"apps[0].order", p.Apps[0].Tags.Order, OrderNumerical},
		{"apps[0].interval", p.Apps[0].Interval.Std().String(), "7s"},
		{"apps[1].order", p.Apps[1].Tags.Order, OrderAlphabetical},
		{"apps[1].interval", p.Apps[1].Interval.Std().String(), "1s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// TestApprovalFromInFlowMapping: approval: {from: [team:owners]} is the
// list of one string team:owners (goccy reads it as a mapping inside a
// flow mapping; the schema walk puts it right), group names keep their
// colons, and the README's block form reads the same.
func TestApprovalFromInFlowMapping(t *testing.T) {
	const head = "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: file:///srv/fleet.git}\n" +
		"apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n" +
		"environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n"
	want := []string{"team:product-owners", "user:alice", "group:shop:release", "team:shop/ops"}
	for _, env := range []string{
		"  - {name: prod, overlay: overlays/prod, from: dev, approval: {required: 2, from: [team:product-owners, user:alice, group:shop:release, team:shop/ops], forbidSelf: true, expires: 72h}}\n",
		"  - name: prod\n    overlay: overlays/prod\n    from: dev\n    approval: {required: 2, from: [team:product-owners, user:alice, \"group:shop:release\", 'team:shop/ops'], forbidSelf: true, expires: 72h}\n",
		"  - name: prod\n    overlay: overlays/prod\n    from: dev\n    approval:\n      required: 2\n      from:\n        - team:product-owners\n        - user:alice\n        - group:shop:release\n        - team:shop/ops\n      forbidSelf: true\n      expires: 72h\n",
	} {
		p, err := Parse("ferry.yaml", []byte(head+env))
		if err != nil {
			t.Fatalf("%s\n%v", env, err)
		}
		a := p.Environments[1].Approval
		if a == nil || !slices.Equal(a.From, want) || a.Required != 2 || !a.ForbidSelf || a.Expires.Std() != 72*time.Hour {
			t.Fatalf("%s\napproval = %+v", env, a)
		}
	}
}
