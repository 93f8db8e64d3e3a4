package fleet

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		raw               string
		url, scheme, host string
		user, password    string
		wantErr           string
	}{
		{raw: "https://bot:s3cr%2Ft@git.example/org/fleet.git", url: "https://git.example/org/fleet.git", scheme: "https", user: "bot", password: "s3cr/t"},
		{raw: "http://127.0.0.1:8081/fleet.git", url: "http://127.0.0.1:8081/fleet.git", scheme: "http"},
		{raw: "ssh://git@git.example:2222/org/fleet.git", url: "ssh://git@git.example:2222/org/fleet.git", scheme: "ssh", host: "git.example:2222", user: "git"},
		{raw: "git@git.example:org/fleet.git", url: "git@git.example:org/fleet.git", scheme: "ssh", host: "git.example:22", user: "git"},
		{raw: "file:///srv/git/fleet.git", url: "file:///srv/git/fleet.git", scheme: "file"},
		{raw: "/srv/git/fleet.git", url: "/srv/git/fleet.git", scheme: "file"},
		{raw: "fleet.git", url: abs, scheme: "file"},
		{raw: "ftp://git.example/fleet.git", wantErr: "unsupported protocol"},
		{raw: "https://bot:s3cret@git.example/%zz", wantErr: "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("err = %v, want one containing %q and no password", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := endpoint{url: tt.url, scheme: tt.scheme, host: tt.host, user: tt.user, password: tt.password}
			if got != want {
				t.Fatalf("parseURL = %+v, want %+v", got, want)
			}
		})
	}
}

func TestCheckBranch(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"main", "release/2026-11", "env.prod", "v1.2"} {
		if err := checkBranch(ok); err != nil {
			t.Errorf("checkBranch(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a..b", "a b", "a:b", "a/", "/a", "a.lock", ".hidden", "a/.b", "a//b", "refs/heads/main", "a@{1}", "a\x01", "@", "x~1", "a^", "a?", "a*", "a[", "a\\b"} {
		if err := checkBranch(bad); err == nil {
			t.Errorf("checkBranch(%q) accepted", bad)
		}
	}
}
