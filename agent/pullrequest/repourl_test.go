package pullrequest

import (
	"net/url"
	"strings"
	"testing"
)

func TestRepoFromURL(t *testing.T) {
	tests := []struct {
		in          string
		owner, name string
		wantErr     string // substring of the error; empty means success
	}{
		{in: "https://github.com/ferry-dev/fleet.git", owner: "ferry-dev", name: "fleet"},
		{in: "https://github.com/ferry-dev/fleet", owner: "ferry-dev", name: "fleet"},
		{in: "https://github.com/ferry-dev/fleet/", owner: "ferry-dev", name: "fleet"},
		{in: "http://127.0.0.1:3000/ferry/fleet.git", owner: "ferry", name: "fleet"},
		{in: "https://ferry:s3cret@gitea.example/ferry/fleet.git", owner: "ferry", name: "fleet"},
		{in: "https://gitlab.com/platform/team/fleet.git", owner: "platform/team", name: "fleet"},
		{in: "ssh://git@gitea.example/ferry/fleet.git", owner: "ferry", name: "fleet"},
		{in: "ssh://git@gitlab.example:2222/a/b/c/fleet.git", owner: "a/b/c", name: "fleet"},
		{in: "git://git.example/ferry/fleet", owner: "ferry", name: "fleet"},
		{in: "git@github.com:ferry-dev/fleet.git", owner: "ferry-dev", name: "fleet"},
		{in: "git@gitlab.com:group/sub/fleet.git", owner: "group/sub", name: "fleet"},
		{in: "github.com:ferry-dev/fleet", owner: "ferry-dev", name: "fleet"},
		{in: "git@github.com:/ferry-dev/fleet.git", owner: "ferry-dev", name: "fleet"},

		{in: "", wantErr: "empty"},
		{in: "https://github.com/fleet.git", wantErr: "want owner/name"},
		{in: "https://github.com/", wantErr: "want owner/name"},
		{in: "https://github.com/a//fleet", wantErr: "empty, . or .. segment"},
		{in: "https://github.com/a/../fleet", wantErr: "empty, . or .. segment"},
		{in: "https:///a/fleet", wantErr: "no host"},
		{in: "file:///srv/git/fleet.git", wantErr: `scheme "file" not supported`},
		{in: "https://github.com/a/fleet?ref=x", wantErr: "query or fragment"},
		{in: "https://github.com/a/fl eet", wantErr: "whitespace"},
		{in: "/srv/git/fleet.git", wantErr: "want scheme://host/owner/name"},
		{in: "git@:a/fleet", wantErr: "no host"},
		{in: "git@github.com:fleet.git", wantErr: "want owner/name"},
		{in: "https://u:pw@host:bad/a/b", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			owner, name, err := RepoFromURL(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("RepoFromURL(%q) = %q, %q; want error containing %q", tt.in, owner, name, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RepoFromURL(%q) error = %q; want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("RepoFromURL(%q): %v", tt.in, err)
			}
			if owner != tt.owner || name != tt.name {
				t.Fatalf("RepoFromURL(%q) = %q, %q; want %q, %q", tt.in, owner, name, tt.owner, tt.name)
			}
		})
	}
}

// Credentials in a remote URL must not come back in an error.
func TestRepoFromURLHidesPassword(t *testing.T) {
	for _, in := range []string{
		"https://ferry:hunter2hunter2@gitea.example/onlyone",
		"https://ferry:hunter2hunter2@gitea.example:bad/a/b",
		"ftp://ferry:hunter2hunter2@gitea.example/a/b",
		"ferry:hunter2hunter2@gitea.example/a/b",
		"https://ferry:hunter2hunter2@gitea.example/a/b?x=1",
	} {
		_, _, err := RepoFromURL(in)
		if err == nil {
			t.Fatalf("RepoFromURL(%q): want an error", in)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("RepoFromURL(%q) error shows the password: %v", in, err)
		}
	}
}

func FuzzRepoFromURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/ferry-dev/fleet.git",
		"ssh://git@gitlab.example:2222/a/b/c/fleet.git",
		"git@github.com:ferry-dev/fleet.git",
		"https://u:p@h/o/n",
		"http://[::1]:3000/o/n.git",
		"git@host:/o/n/",
		"://",
		"a:b@c:d/e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		owner, name, err := RepoFromURL(in)
		if err != nil {
			if u, perr := url.Parse(in); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && !strings.Contains(strings.Replace(in, pw, "", 1), pw) &&
					strings.Contains(err.Error(), pw) {
					t.Fatalf("RepoFromURL(%q) error shows the password: %v", in, err)
				}
			}
			return
		}
		if owner == "" || name == "" || strings.Contains(name, "/") || strings.HasSuffix(name, ".git") {
			t.Fatalf("RepoFromURL(%q) = %q, %q: want non-empty owner and a single-segment name", in, owner, name)
		}
		for _, s := range strings.Split(owner, "/") {
			if s == "" || s == "." || s == ".." {
				t.Fatalf("RepoFromURL(%q) owner %q has an empty, . or .. segment", in, owner)
			}
		}
		if !strings.Contains(in, "%") && !strings.Contains(in, owner+"/"+name) { // url.Parse decodes %XX
			t.Fatalf("RepoFromURL(%q) = %q/%q, which is not in the input", in, owner, name)
		}
	})
}
