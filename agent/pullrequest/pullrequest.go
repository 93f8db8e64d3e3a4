// Package pullrequest opens and tracks the pull requests through which ferry
// promotes gated environments: one pull request per head branch
// ferry/<env>/<app>, whose body is the gate report and whose merge is the
// approval.
//
// Gitea, GitHub and GitLab are reached through their official SDKs behind the
// one small Provider interface. A single multi-forge library would have been
// simpler, but jenkins-x/go-scm and drone/go-scm are refused by the module
// proxy this project builds from, so each forge keeps its own adapter file.
package pullrequest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PR states, the same for every forge.
const (
	StateOpen   = "open"
	StateClosed = "closed" // closed without merging
	StateMerged = "merged"
)

// PR is a pull request (a merge request on GitLab) as ferry needs it.
type PR struct {
	Number      int
	URL         string // web page of the pull request
	Title       string
	Body        string
	Head        string // source branch
	Base        string // target branch
	State       string // StateOpen, StateClosed or StateMerged
	MergeCommit string // commit on Base made by the merge; empty unless merged
	UpdatedAt   time.Time
}

// Provider is one forge's pull-request API for one repository.
type Provider interface {
	// Find returns every pull request whose source is head in this
	// repository, in any state, newest (highest number) first.
	Find(ctx context.Context, head string) ([]PR, error)
	// Open creates a pull request from head into base.
	Open(ctx context.Context, head, base, title, body string) (PR, error)
	// Update replaces the body, and the title unless title is empty.
	Update(ctx context.Context, number int, title, body string) (PR, error)
	// Comment adds a comment to the pull request's conversation.
	Comment(ctx context.Context, number int, body string) error
}

// Kinds of forge New knows, in the order error messages list them.
const (
	KindGitea  = "gitea"
	KindGitHub = "github"
	KindGitLab = "gitlab"
)

// Kinds lists the forge kinds New accepts.
func Kinds() []string { return []string{KindGitea, KindGitHub, KindGitLab} }

// ErrUnknownKind is returned by New for a Kind it does not know.
var ErrUnknownKind = errors.New("unknown pull-request provider kind")

// Config says which forge and repository a Provider talks to.
type Config struct {
	Kind string // KindGitea, KindGitHub or KindGitLab
	// URL is the forge's base URL, e.g. http://127.0.0.1:3000. Required for
	// Gitea; for GitHub empty means github.com and anything else is a GitHub
	// Enterprise server; for GitLab empty means gitlab.com.
	URL   string
	Token string // API token; never logged or put in errors
	Repo  string // owner/name; on GitLab owner may be group/subgroup
	// HTTPClient carries timeouts, proxies and TLS; nil means a default client.
	HTTPClient *http.Client
}

// String hides the token from %v and %s.
func (c Config) String() string {
	return fmt.Sprintf("{Kind:%s URL:%s Repo:%s Token:<redacted>}", c.Kind, c.URL, c.Repo)
}

// GoString hides the token from %#v.
func (c Config) GoString() string {
	return fmt.Sprintf("pullrequest.Config{Kind:%q, URL:%q, Repo:%q, Token:<redacted>}", c.Kind, c.URL, c.Repo)
}

// LogValue hides the token from slog.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", c.Kind), slog.String("url", c.URL), slog.String("repo", c.Repo))
}

// New returns the Provider for c.Kind. It checks the configuration but makes
// no request.
func New(c Config) (Provider, error) {
	var build func(Config) (Provider, error)
	switch c.Kind {
	case KindGitea:
		build = newGitea
	case KindGitHub:
		build = newGitHub
	case KindGitLab:
		build = newGitLab
	default:
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownKind, c.Kind, strings.Join(Kinds(), ", "))
	}
	if c.Token == "" {
		return nil, fmt.Errorf("%s pull-request provider for %q: token is empty", c.Kind, c.Repo)
	}
	return build(c)
}

// splitRepo checks "owner/name"; nested owners (GitLab groups) only when
// nested is true.
func splitRepo(kind, repo string, nested bool) (owner, name string, err error) {
	i := strings.LastIndex(repo, "/")
	if i <= 0 || i == len(repo)-1 {
		return "", "", fmt.Errorf("%s repo %q: want owner/name", kind, repo)
	}
	owner, name = repo[:i], repo[i+1:]
	if !nested && strings.Contains(owner, "/") {
		return "", "", fmt.Errorf("%s repo %q: want owner/name with no further slashes", kind, repo)
	}
	if slices.Contains(strings.Split(owner, "/"), "") {
		return "", "", fmt.Errorf("%s repo %q: empty path segment", kind, repo)
	}
	return owner, name, nil
}

// newestFirst orders pull requests by number, highest first: numbers grow
// with creation on every forge, timestamps can tie.
func newestFirst(prs []PR) []PR {
	slices.SortFunc(prs, func(a, b PR) int { return b.Number - a.Number })
	return prs
}

// ctxErr prefers the context's error when the context ended, so a timeout
// reads as one rather than as a transport failure.
func ctxErr(ctx context.Context, err error) error {
	if ctxe := ctx.Err(); ctxe != nil && !errors.Is(err, ctxe) {
		return fmt.Errorf("%w (%v)", ctxe, err)
	}
	return err
}
