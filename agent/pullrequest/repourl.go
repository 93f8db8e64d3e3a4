package pullrequest

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// RepoFromURL returns the owner and name of the repository a git remote URL
// points at, for Config.Repo. It accepts
//
//	http(s)://host[:port]/owner/name[.git]
//	ssh://[user@]host[:port]/owner/name[.git]   (and git://)
//	[user@]host:owner/name[.git]                 (scp-like, as git@host:owner/name.git)
//
// On GitLab the owner may be a group path, so everything before the last
// segment is the owner ("group/sub"). A forge served under a path prefix
// (http://host/gitea/owner/name) cannot be told apart from a group and
// yields owner "gitea/owner". Credentials in the URL never reach the error.
func RepoFromURL(gitURL string) (owner, name string, err error) {
	path, shown, err := remotePath(gitURL)
	if err != nil {
		return "", "", err
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	segs := strings.Split(path, "/")
	if len(segs) < 2 {
		return "", "", fmt.Errorf("git URL %s: path %q: want owner/name", shown, path)
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return "", "", fmt.Errorf("git URL %s: path %q: empty, . or .. segment", shown, path)
		}
	}
	return strings.Join(segs[:len(segs)-1], "/"), segs[len(segs)-1], nil
}

// remotePath splits off the repository path, and returns the URL as it may be
// shown in errors.
func remotePath(gitURL string) (path, shown string, err error) {
	if gitURL == "" {
		return "", `""`, fmt.Errorf("git URL is empty")
	}
	if strings.ContainsAny(gitURL, " \t\r\n") {
		return "", "", fmt.Errorf("git URL %q contains whitespace", httpx.RedactURL(gitURL))
	}
	if !strings.Contains(gitURL, "://") {
		return scpPath(gitURL)
	}
	u, err := url.Parse(gitURL)
	if err != nil {
		// url.Error quotes the whole input, password included.
		return "", "", fmt.Errorf("git URL %q: not a URL", httpx.RedactURL(gitURL))
	}
	shown = u.Redacted()
	switch u.Scheme {
	case "http", "https", "ssh", "git":
	default:
		return "", "", fmt.Errorf("git URL %s: scheme %q not supported (want http, https, ssh or scp-like user@host:path)", shown, u.Scheme)
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("git URL %s: no host", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("git URL %s: unexpected query or fragment", shown)
	}
	return u.Path, shown, nil
}

// scpPath handles git's scp-like syntax [user@]host:path.
func scpPath(s string) (path, shown string, err error) {
	rest, shown := s, fmt.Sprintf("%q", s)
	// Whatever precedes the last '@' may be user:password, wherever it sits.
	if at := strings.LastIndex(s, "@"); at >= 0 && strings.Contains(s[:at], ":") {
		shown = fmt.Sprintf("%q", "xxxxx"+s[at:])
	}
	authEnd := strings.IndexByte(s, '/')
	if authEnd < 0 {
		authEnd = len(s)
	}
	if at := strings.LastIndex(s[:authEnd], "@"); at >= 0 {
		if strings.Contains(s[:at], ":") { // user:password@ is not scp syntax, but never show it
			shown = fmt.Sprintf("%q", "xxxxx"+s[at:])
		}
		rest = s[at+1:]
	}
	host, path, ok := strings.Cut(rest, ":")
	if !ok {
		return "", "", fmt.Errorf("git URL %s: want scheme://host/owner/name or user@host:owner/name", shown)
	}
	if host == "" || strings.Contains(host, "/") {
		return "", "", fmt.Errorf("git URL %s: no host before ':'", shown)
	}
	return path, shown, nil
}
