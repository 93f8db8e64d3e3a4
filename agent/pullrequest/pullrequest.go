// Package pullrequest opens and tracks the pull requests through which ferry
// promotes gated environments: one pull request per head branch
// ferry/<env>/<app>, whose body is the gate report and whose merge is the
// approval.
//
// Gitea, GitHub and GitLab are reached through their official SDKs behind one
// Client. A single multi-forge library would have been simpler, but
// jenkins-x/go-scm and drone/go-scm are refused by the module proxy this
// project builds from, so each forge keeps its own adapter file.
//
// Every forge client gets an httpx client by default: dial, TLS, header and
// overall deadlines, answers capped at MaxBodyBytes, and no token on a
// redirect to another origin (GitLab's Private-Token is a custom header,
// which net/http copies to any host).
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

	"github.com/ferry-dev/ferry/internal/httpx"
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
	// Author is the login of the account that opened it: for a proposal,
	// the account of ferry's token.
	Author string
}

// Review states, the same for every forge. Other states a forge reports
// (commented, pending, dismissed) are kept as the forge spells them, in
// lower case, and count for nothing.
const (
	ReviewApproved = "approved"
	ReviewRejected = "changes_requested"
)

// Review is one review of a pull request: a person's approval or request
// for changes, as the forge knows it.
type Review struct {
	User        string // forge login
	State       string // ReviewApproved, ReviewRejected, or another state that counts for nothing
	SubmittedAt time.Time
	// Commit is the head commit the review was given on; empty where the
	// forge does not say (GitLab).
	Commit string
	// LeftOut, set by a reader that weighs reviews against a proposal
	// (promote.ProposalReviews), says why the review does not count for it
	// ("given for another digest"); the forge never sets it.
	LeftOut string
}

// Client is one forge's pull-request API for one repository. It is safe
// for concurrent use.
type Client struct{ f forge }

// forge is what each adapter file implements.
type forge interface {
	find(ctx context.Context, head string) ([]PR, error)
	open(ctx context.Context, head, base, title, body string) (PR, error)
	update(ctx context.Context, number int, title, body string) (PR, error)
	reviews(ctx context.Context, number int) ([]Review, error)
	teamMember(ctx context.Context, org, team, user string) (bool, error)
	merge(ctx context.Context, number int, head, title, message string) error
}

// Find returns every pull request whose source is head in this repository,
// in any state, newest (highest number) first.
func (c *Client) Find(ctx context.Context, head string) ([]PR, error) { return c.f.find(ctx, head) }

// Open creates a pull request from head into base.
func (c *Client) Open(ctx context.Context, head, base, title, body string) (PR, error) {
	return c.f.open(ctx, head, base, title, body)
}

// Update replaces the body, and the title unless title is empty.
func (c *Client) Update(ctx context.Context, number int, title, body string) (PR, error) {
	return c.f.update(ctx, number, title, body)
}

// Reviews returns the reviews of pull request number, oldest first. A person
// may appear more than once: their latest approval or request for changes is
// their vote.
func (c *Client) Reviews(ctx context.Context, number int) ([]Review, error) {
	rs, err := c.f.reviews(ctx, number)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(rs, func(a, b Review) int { return a.SubmittedAt.Compare(b.SubmittedAt) })
	return rs, nil
}

// TeamMember reports whether user is an active member of team in org (a
// GitHub team slug, a Gitea team name, a GitLab group path under org). A team
// the forge does not know is an error wrapping ErrNoTeam, not a "no": a
// misspelt team in ferry.yaml must show.
func (c *Client) TeamMember(ctx context.Context, org, team, user string) (bool, error) {
	if org == "" || team == "" || user == "" {
		return false, fmt.Errorf("team membership: org %q, team %q and user %q must all be set", org, team, user)
	}
	return c.f.teamMember(ctx, org, team, user)
}

// Merge merges pull request number with a merge commit whose subject is
// title and whose body is message.
func (c *Client) Merge(ctx context.Context, number int, title, message string) error {
	return c.f.merge(ctx, number, "", title, message)
}

// MergeHead is Merge only while the pull request's head is the commit head:
// the forge refuses when someone pushed to the branch since (Gitea
// head_commit_id, GitHub and GitLab sha).
func (c *Client) MergeHead(ctx context.Context, number int, head, title, message string) error {
	if head == "" {
		return fmt.Errorf("merge pull request #%d: no head commit to pin the merge to", number)
	}
	return c.f.merge(ctx, number, head, title, message)
}

// ErrNoTeam is a TeamMember whose team the forge does not know.
var ErrNoTeam = errors.New("no such team")

// Limits of a Client.
const (
	// MaxBodyBytes caps one forge answer: a page of 100 pull requests
	// whose bodies are gate reports is a few MiB at most.
	MaxBodyBytes = 16 << 20
	// MaxPages caps the pages Find reads (Gitea lists every pull request
	// of the repository, 50 a page): a forge whose paging never ends is an
	// error, not a loop.
	MaxPages = 1000
	// RequestTimeout bounds one HTTP request of the default client.
	RequestTimeout = 30 * time.Second
)

// ErrTooManyPages is a Find that went past MaxPages.
var ErrTooManyPages = errors.New("too many pages of pull requests")

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
	// HTTPClient carries proxies and TLS; nil means httpx's client. Either
	// way its transport is wrapped to cap answers at MaxBodyBytes and drop
	// credentials on cross-origin redirects, and a nil CheckRedirect
	// becomes httpx.CheckRedirect.
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

// New returns the Client for c.Kind. It checks the configuration but makes
// no request.
func New(c Config) (*Client, error) {
	var build func(Config) (forge, error)
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
	c.HTTPClient = httpClient(c)
	f, err := build(c)
	if err != nil {
		return nil, err
	}
	return &Client{f: f}, nil
}

// httpClient is c.HTTPClient (or httpx's) with bounded answers and the
// cross-origin redirect policy, whatever the SDK does on top.
func httpClient(c Config) *http.Client {
	kind := c.Kind
	return httpx.Harden(c.HTTPClient, httpx.Timeouts{Request: RequestTimeout}, func(r *http.Request) (string, int64) {
		return fmt.Sprintf("%s %s %s", kind, r.URL.Host, r.URL.Path), MaxBodyBytes
	})
}

// pathSegments refuses names that would change the shape of an API path
// they are put in (the SDKs do not all escape them).
func pathSegments(names ...string) error {
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/?#%\\ \t\r\n") {
			return fmt.Errorf("%q is not a valid name", n)
		}
	}
	return nil
}

// pageLimit is the error for a Find that read MaxPages pages.
func pageLimit(kind, repo string) error {
	return fmt.Errorf("%s: find pull requests in %s: %w: stopped after %d pages", kind, repo, ErrTooManyPages, MaxPages)
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
