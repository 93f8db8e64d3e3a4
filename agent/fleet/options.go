package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Options says which fleet repository to work on and how.
type Options struct {
	// URL of the fleet repository: http(s)://, ssh://, scp-like
	// user@host:path, file:// or a plain local path. Credentials in an
	// http(s) URL are moved into Auth and never stored or logged.
	URL string
	// Branch ferry reads and writes; default "main".
	Branch string
	// Dir is the local bare clone; created when missing.
	Dir string
	// InMemory keeps the clone in memory instead of Dir (a process that
	// starts from the remote every time: the simulation, the demo).
	InMemory bool
	Auth     Auth
	Author   Signature
	// Signer, when set, signs every commit this Repo writes (promotions,
	// merges, notes): its armored signature goes in the gpgsig header.
	Signer CommitSigner
	// Timeout bounds each network operation; default 30s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Auth holds credentials. Over HTTP(S) a token goes in Password, with
// Username defaulting to "git". Over SSH, SSHKeyFile names a private key;
// without it the SSH agent is used. KnownHostsFile defaults to
// $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts.
type Auth struct {
	Username, Password string
	SSHKeyFile         string
	SSHKeyPassphrase   string
	KnownHostsFile     string
}

// CommitSigner signs a commit object's bytes (without the gpgsig header)
// and returns the armored signature (agent/trust/gitsig).
type CommitSigner interface {
	SignCommit(payload []byte) (string, error)
}

// Signature is a commit author or committer.
type Signature struct{ Name, Email string }

const (
	defaultBranch  = "main"
	defaultTimeout = 30 * time.Second
	remoteName     = "origin"
)

// DefaultAuthor signs commits when Options.Author is empty.
var DefaultAuthor = Signature{Name: "ferry", Email: "ferry@localhost"}

func (o Options) withDefaults() (Options, error) {
	if o.URL == "" {
		return o, errors.New("fleet options: URL is empty")
	}
	if o.Dir == "" && !o.InMemory {
		return o, errors.New("fleet options: Dir is empty")
	}
	if o.Branch == "" {
		o.Branch = defaultBranch
	}
	if err := checkBranch(o.Branch); err != nil {
		return o, err
	}
	// 30 s: a healthy fetch or push of a fleet repo takes well under a
	// second; longer means a stuck server, better reported than waited on.
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Author.Name == "" && o.Author.Email == "" {
		o.Author = DefaultAuthor
	}
	// These would break the commit header git parses ("Name <email> time").
	if strings.ContainsAny(o.Author.Name+o.Author.Email, "<>\n") {
		return o, fmt.Errorf("fleet options: author %q <%s> contains <, > or a newline", o.Author.Name, o.Author.Email)
	}
	return o, nil
}

// checkBranch applies the parts of git-check-ref-format that matter for a
// branch name given in a config file.
func checkBranch(b string) error {
	// refs/... would name a full reference, not a branch.
	bad := b == "" || b == "@" || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") ||
		strings.ContainsAny(b, " ~^:?*[\\\x7f") || strings.HasPrefix(b, "refs/")
	for _, r := range b {
		if r < 0x20 {
			bad = true
		}
	}
	for _, part := range strings.Split(b, "/") {
		if strings.HasPrefix(part, ".") {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("fleet options: invalid branch name %q", b)
	}
	return nil
}

// endpoint is a repository location split into what may be stored and
// printed (url) and the credentials that came with it.
type endpoint struct {
	url      string // credential-free; stored as the remote's URL
	scheme   string // "http", "https", "ssh", "file"
	host     string // host:port for ssh
	user     string
	password string
}

// parseURL normalises a repository URL. Plain paths become absolute so the
// stored remote does not depend on the working directory.
func parseURL(raw string) (endpoint, error) {
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("fleet URL %s: %w", redactURL(raw), redact(err, userinfo(raw)))
	}
	switch ep.Protocol {
	case "http", "https":
		u, err := url.Parse(raw)
		if err != nil {
			return endpoint{}, fmt.Errorf("fleet URL %s: %w", redactURL(raw), redact(err, userinfo(raw)))
		}
		e := endpoint{scheme: ep.Protocol, user: ep.User, password: ep.Password}
		u.User = nil
		e.url = u.String()
		return e, nil
	case "ssh":
		port := ep.Port
		if port == 0 {
			port = 22
		}
		// Keep the user: for ssh it selects the account, it is no secret.
		e := endpoint{scheme: "ssh", user: ep.User, host: net.JoinHostPort(ep.Host, fmt.Sprint(port))}
		e.url = raw
		if ep.Password != "" {
			u, err := url.Parse(raw)
			if err != nil {
				return endpoint{}, fmt.Errorf("fleet URL %s: %w", redactURL(raw), redact(err, userinfo(raw)))
			}
			u.User = url.User(ep.User)
			e.url = u.String()
		}
		return e, nil
	case "file":
		if strings.Contains(raw, "://") {
			return endpoint{scheme: "file", url: raw}, nil
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return endpoint{}, fmt.Errorf("fleet URL %s: %w", raw, err)
		}
		return endpoint{scheme: "file", url: abs}, nil
	case MemoryScheme:
		return endpoint{scheme: MemoryScheme, url: raw}, nil
	default:
		return endpoint{}, fmt.Errorf("fleet URL %s: unsupported protocol %q (want http, https, ssh or file)", redactURL(raw), ep.Protocol)
	}
}

// userinfo is the "user:password" part of a URL, found without parsing it
// (the URL may not parse); "" when there is none.
func userinfo(raw string) string {
	i := strings.Index(raw, "://")
	if i < 0 {
		return ""
	}
	rest := raw[i+3:]
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.LastIndex(rest, "@"); j >= 0 {
		return rest[:j]
	}
	return ""
}

// redactURL shows a repository URL in a message without its secrets
// (internal/httpx: one home for URL redaction).
func redactURL(raw string) string { return httpx.RedactURL(raw) }

// authMethod turns Auth (falling back on URL credentials) into go-git's.
func authMethod(ep endpoint, a Auth) (transport.AuthMethod, error) {
	switch ep.scheme {
	case "http", "https":
		// Auth wins over credentials in the URL: files are where secrets
		// belong.
		user, pass := a.Username, a.Password
		if user == "" && pass == "" {
			user, pass = ep.user, ep.password
		}
		if user == "" && pass == "" {
			return nil, nil
		}
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: pass}, nil
	case "ssh":
		if a.SSHKeyFile == "" && a.KnownHostsFile == "" {
			return nil, nil // go-git falls back to the SSH agent and ~/.ssh/known_hosts
		}
		// git: the account every forge's SSH service uses.
		user := ep.user
		if user == "" {
			user = "git"
		}
		var pk transport.AuthMethod
		var helper *gitssh.HostKeyCallbackHelper
		if a.SSHKeyFile != "" {
			k, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
			if err != nil {
				// The parse error never holds the passphrase.
				return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
			}
			pk, helper = k, &k.HostKeyCallbackHelper
		} else {
			cb, err := gitssh.NewSSHAgentAuth(user)
			if err != nil {
				return nil, fmt.Errorf("ssh agent: %w", err)
			}
			pk, helper = cb, &cb.HostKeyCallbackHelper
		}
		if a.KnownHostsFile != "" {
			db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
			if err != nil {
				return nil, fmt.Errorf("known hosts %s: %w", a.KnownHostsFile, err)
			}
			// Offer only the key types known_hosts holds for the host, or the
			// server may present another type and fail verification.
			helper.HostKeyCallback = db.HostKeyCallback()
			helper.HostKeyAlgorithms = db.HostKeyAlgorithms(ep.host)
		}
		return pk, nil
	default:
		return nil, nil
	}
}
