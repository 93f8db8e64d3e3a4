package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/agent/trust/cosign"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/notation"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
	promprovider "github.com/ferry-dev/ferry/analysis/prometheus"
)

// globals are the flags every command shares.
type globals struct {
	config    string
	workDir   string
	branch    string
	logFormat string
	logLevel  string
	log       *slog.Logger
	// loadedConfig is the ferry.yaml the running agent was built from,
	// when the configuration lives in the fleet repo.
	loadedConfig []byte
	// loadedCommit is the fleet commit loadedConfig was read at.
	loadedCommit string
	// apps limits the agent to this replica's shards under --shards; nil: all.
	apps func(string) bool
	// registries keeps the registry client of the running configuration
	// (registryFor).
	registries registries
	// responder answers alerts when this replica runs no loop (it holds no
	// Lease or no shard): rollbacks only, on a clone of its own.
	responder atomic.Pointer[responder]
	// dedupe is the webhook server's memory of alerts handed on; a loop
	// that gives an alert up (or stops with it pending) makes it forget,
	// so Alertmanager's resend is acted on.
	dedupe *webhook.Deduper
	// hooks is the webhook server, whose alert routing follows ferry.yaml.
	hooks *webhook.Handler
	// verifier authenticates its calls, following webhooks.tokenFile.
	verifier *webhook.Verifier
}

// isRepoURL tells a fleet repo URL from a config file path. A plain local
// path is always a file: a bare repository on disk is named with file://.
func isRepoURL(s string) bool {
	for _, p := range []string{"http://", "https://", "ssh://", "file://", "git@"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// loadPipeline reads --config: a file is the whole configuration; a repo
// URL means ferry.yaml at the root of that repo's branch head.
func (g *globals) loadPipeline(ctx context.Context) (*config.Pipeline, *fleet.Repo, error) {
	if !isRepoURL(g.config) {
		p, err := config.Load(g.config)
		if err != nil {
			return nil, nil, err
		}
		repo, err := g.openFleet(ctx, p)
		return p, repo, err
	}
	// git.url may not carry credentials, so a --config URL with a password
	// could never match it; refuse it before the URL reaches any message.
	if u, err := url.Parse(g.config); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = nil
			return nil, nil, fmt.Errorf("--config %s: the URL must not carry credentials; use FERRY_GIT_USERNAME_FILE and FERRY_GIT_PASSWORD_FILE", u)
		}
	}
	// Just enough to fetch the real ferry.yaml. Credentials come from the
	// environment: the config that would name their files is what is
	// being fetched.
	bootstrap := &config.Pipeline{Git: config.Git{URL: g.config, Branch: g.branch}}
	bootstrap.Git.Auth = config.GitAuth{
		UsernameFile: os.Getenv("FERRY_GIT_USERNAME_FILE"),
		PasswordFile: os.Getenv("FERRY_GIT_PASSWORD_FILE"),
		SSHKeyFile:   os.Getenv("FERRY_GIT_SSH_KEY_FILE"),
	}
	repo, err := g.openFleet(ctx, bootstrap)
	if err != nil {
		return nil, nil, err
	}
	snap, err := repo.Fetch(ctx)
	if err != nil {
		return nil, nil, err
	}
	data, err := snap.ReadFile("ferry.yaml")
	if err != nil {
		return nil, nil, fmt.Errorf("read ferry.yaml from %s at %s: %w", g.config, snap.Hash(), err)
	}
	g.loadedConfig, g.loadedCommit = data, snap.Hash()
	p, err := g.pipelineAt(snap, data, bootstrap)
	if err != nil {
		return nil, nil, err
	}
	// Open the clone again with the git settings the config just read
	// (author, timeout, credential files): the bootstrap's defaults
	// signed every commit "ferry <ferry@localhost>" whatever git.author said.
	if repo, err = g.openFleet(ctx, p); err != nil {
		return nil, nil, err
	}
	return p, repo, nil
}

func (g *globals) openFleet(ctx context.Context, p *config.Pipeline) (*fleet.Repo, error) {
	return g.openFleetIn(ctx, p, "")
}

// openFleetIn opens the fleet repo's clone in the work dir's subdirectory
// sub ("" for the work dir itself): each writer of a process has its own.
func (g *globals) openFleetIn(ctx context.Context, p *config.Pipeline, sub string) (*fleet.Repo, error) {
	auth, err := gitAuth(p.Git.Auth)
	if err != nil {
		return nil, err
	}
	dir := g.workDir
	if dir == "" {
		// No cache dir (a container without HOME): a temporary one does,
		// since the clone is only a cache of the remote.
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		// Named by a hash of URL and branch: one clone per fleet and
		// branch, and no URL text (or secret) in the path.
		sum := sha256.Sum256([]byte(p.Git.URL + "\x00" + p.Git.Branch))
		dir = filepath.Join(base, "ferry", hex.EncodeToString(sum[:8]))
	}
	if sub != "" {
		dir = filepath.Join(dir, sub)
	}
	branch := p.Git.Branch
	if branch == "" {
		branch = "main"
	}
	signer, err := commitSigner(p)
	if err != nil {
		return nil, err
	}
	o := fleet.Options{
		URL:     p.Git.URL,
		Branch:  branch,
		Dir:     dir,
		Auth:    auth,
		Author:  fleet.Signature{Name: p.Git.Author.Name, Email: p.Git.Author.Email},
		Timeout: p.Git.Timeout.Std(),
		Logger:  g.log,
	}
	if signer != nil {
		o.Signer = signer
	}
	return fleet.Open(ctx, o)
}

// commitSigner loads git.signing's key; nil when ferry signs nothing.
// Errors name the file and the reason, never the key or passphrase.
func commitSigner(p *config.Pipeline) (gitsig.Signer, error) {
	sg := p.Git.Signing
	switch {
	case sg == nil:
		return nil, nil
	case sg.SSHKeyFile != "":
		s, err := gitsig.LoadSSHSigner(sg.SSHKeyFile, sg.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("git.signing: %w", err)
		}
		return s, nil
	default:
		s, err := gitsig.LoadOpenPGPSigner(sg.OpenPGPKeyFile, sg.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("git.signing: %w", err)
		}
		return s, nil
	}
}

func gitAuth(a config.GitAuth) (fleet.Auth, error) {
	var out fleet.Auth
	var err error
	if a.UsernameFile != "" {
		if out.Username, err = config.ReadSecret(a.UsernameFile); err != nil {
			return out, err
		}
	}
	if a.PasswordFile != "" {
		if out.Password, err = config.ReadSecret(a.PasswordFile); err != nil {
			return out, err
		}
	}
	out.SSHKeyFile, out.KnownHostsFile = a.SSHKeyFile, a.KnownHostsFile
	return out, nil
}

func registryClient(p *config.Pipeline, log *slog.Logger) (*registry.Client, error) {
	basic := map[string]registry.Basic{}
	for host, a := range p.Registry.Auth {
		user, err := config.ReadSecret(a.UsernameFile)
		if err != nil {
			return nil, fmt.Errorf("registry auth for %s: %w", host, err)
		}
		pass, err := config.ReadSecret(a.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("registry auth for %s: %w", host, err)
		}
		basic[host] = registry.Basic{Username: user, Password: pass}
	}
	kc, err := registry.Keychain(p.Registry.DockerConfig, basic)
	if err != nil {
		return nil, err
	}
	return registry.NewClient(registry.Options{
		Keychain:          kc,
		RequestsPerSecond: p.Registry.RequestsPerSecond,
		UserAgent:         "ferry/" + version,
		Logger:            log,
		RequestTimeout:    p.Registry.Timeout.Std(),
		LookupTimeout:     p.Registry.LookupTimeout.Std(),
		MaxBodyBytes:      p.Registry.MaxBodyBytes,
		MaxTagListBytes:   p.Registry.MaxTagListBytes,
	}), nil
}

// newAgent wires an agent for p over repo, with the evidence sources p names.
func newAgent(p *config.Pipeline, repo *fleet.Repo, reg *registry.Client, log *slog.Logger, metrics prometheus.Registerer, apps func(string) bool) (*agent.Agent, error) {
	o, err := agentOptions(p, repo, reg, log, metrics, apps)
	if err != nil {
		return nil, err
	}
	return agent.New(o)
}

// processEngines are the compiled policy bundles of this process, shared
// by the agents a ferry.yaml change rebuilds: compiled once, and the bundle
// accepted under git.verifyCommits is remembered across the rebuild.
var processEngines = gate.NewEngines()

// agentOptions are newAgent's options, for a caller (the demo) that adds
// its own forge.
func agentOptions(p *config.Pipeline, repo *fleet.Repo, reg *registry.Client, log *slog.Logger, metrics prometheus.Registerer, apps func(string) bool) (agent.Options, error) {
	var m *observe.Metrics
	if metrics != nil {
		m = observe.NewMetrics(metrics)
	}
	o := agent.Options{Config: p, Fleet: repo, Registry: reg, Images: reg, Logger: log, Metrics: m, Sonar: map[string]agent.QualityGates{}, Apps: apps, Engines: processEngines,
		RegistryTimeout: p.Registry.LookupTimeout.Std(), RegistryPatience: p.Registry.Patience.Std()}
	var err error
	if o.CommitSigner, err = commitSigner(p); err != nil {
		return o, err
	}
	clusters, err := clusterVerifierFor(p, repo, log)
	if err != nil {
		return o, err
	}
	o.Clusters = clusters
	if o.Trust, err = trustChecker(p, reg); err != nil {
		return o, err
	}
	// A SonarQube client per app: each may name its own server and token.
	for _, app := range p.Apps {
		s := app.Evidence.Sonar
		if s == nil {
			continue
		}
		token := ""
		if s.TokenFile != "" {
			var err error
			if token, err = config.ReadSecret(s.TokenFile); err != nil {
				return o, fmt.Errorf("apps %s evidence.sonar: %w", app.Name, err)
			}
		}
		client, err := sonar.New(s.URL, token, nil)
		if err != nil {
			return o, fmt.Errorf("apps %s evidence.sonar: %w", app.Name, err)
		}
		o.Sonar[app.Name] = client
	}
	if pr := p.Providers.Prometheus; pr != nil {
		prom, err := promprovider.New(pr.Address, promprovider.Options{
			Timeout: pr.Timeout.Std(), BearerTokenFile: pr.BearerTokenFile, InsecureSkipVerify: pr.InsecureSkipVerify, Logger: log,
		})
		if err != nil {
			return o, fmt.Errorf("providers.prometheus: %w", err)
		}
		// One client for both: gate metrics and analyses ask one server.
		o.Prometheus = prom
		o.Analysis = analysis.Providers{"prometheus": prom}
	}
	if pv := p.Git.Provider; pv != nil {
		prs, err := pullRequests(p)
		if err != nil {
			return o, err
		}
		o.PullRequests, o.Branches = prs, repo
		o.Reviews, o.Teams = forgeApprovals(p, prs, repo)
	}
	return o, nil
}

func pullRequests(p *config.Pipeline) (agent.PullRequests, error) {
	pv := p.Git.Provider
	token := ""
	if pv.TokenFile != "" {
		var err error
		if token, err = config.ReadSecret(pv.TokenFile); err != nil {
			return nil, fmt.Errorf("git.provider: %w", err)
		}
	}
	// The forge repository comes from git.url: one setting, so pull
	// requests cannot point at another repository than ferry pushes to.
	owner, name, err := pullrequest.RepoFromURL(p.Git.URL)
	if err != nil {
		return nil, fmt.Errorf("git.provider: %w", err)
	}
	prs, err := pullrequest.New(pullrequest.Config{Kind: pv.Kind, URL: pv.URL, Token: token, Repo: owner + "/" + name})
	if err != nil {
		return nil, fmt.Errorf("git.provider: %w", err)
	}
	return prs, nil
}

// forgeApprovals are the gate's reviews and team membership from the forge
// client: team:NAME is a team of the fleet repo's owner. A client that
// cannot read reviews (a test double) gives none.
func forgeApprovals(p *config.Pipeline, prs agent.PullRequests, repo *fleet.Repo) (gate.Reviews, gate.Teams) {
	var reviews gate.Reviews
	var teams gate.Teams
	if rs, ok := prs.(promote.ReviewSource); ok {
		reviews = promote.ProposalReviews{Forge: rs, Commits: repo}
	}
	if ts, ok := prs.(promote.TeamSource); ok {
		owner, _, _ := pullrequest.RepoFromURL(p.Git.URL) // checked by pullRequests
		teams = promote.Teams{Forge: ts, Owner: owner}
	}
	return reviews, teams
}

// agentFor wires an agent with the registry client of p (registryFor), so
// a reload reads the credential files again.
func (g *globals) agentFor(p *config.Pipeline, repo *fleet.Repo, metrics prometheus.Registerer) (*agent.Agent, error) {
	return g.agentForApps(p, repo, metrics, g.apps)
}

// agentForApps is agentFor for the apps named (nil: every app).
func (g *globals) agentForApps(p *config.Pipeline, repo *fleet.Repo, metrics prometheus.Registerer, apps func(string) bool) (*agent.Agent, error) {
	reg, err := g.registryFor(p)
	if err != nil {
		return nil, err
	}
	return newAgent(p, repo, reg, g.log, metrics, apps)
}

// configChanged reports whether ferry.yaml at commit differs from the one
// the running agent was built from.
func (g *globals) configChanged(repo *fleet.Repo, commit string) bool {
	snap, err := repo.Snapshot(commit)
	if err != nil {
		return false
	}
	return g.configChangedAt(snap)
}

// configChangedAt reports that snap holds another ferry.yaml than the one
// loaded last (a refused one counts as loaded: it is not asked again).
func (g *globals) configChangedAt(snap *fleet.Snapshot) bool {
	data, err := snap.ReadFile("ferry.yaml")
	if err != nil {
		g.log.Error("ferry.yaml is gone from the fleet repo; keeping the running configuration", "commit", snap.Hash())
		return false
	}
	return !bytes.Equal(data, g.loadedConfig)
}

// agent loads the configuration and wires an agent without metrics, for
// the commands that read and print.
func (g *globals) agent(ctx context.Context) (*agent.Agent, error) {
	p, repo, err := g.loadPipeline(ctx)
	if err != nil {
		return nil, err
	}
	return g.agentFor(p, repo, nil)
}

// trustChecker builds each verified app's verifiers from its verify:
// block, reading the keys, roots and trust policies now: a file that is
// missing or malformed stops the start, naming it. nil when no app is
// verified.
func trustChecker(p *config.Pipeline, reg *registry.Client) (agent.Trust, error) {
	byApp := map[string][]trust.Verifier{}
	for _, app := range p.Apps {
		v := app.Verify
		if v == nil {
			continue
		}
		if v.Cosign != nil {
			cv, err := cosign.New(v.Cosign, reg)
			if err != nil {
				return nil, fmt.Errorf("apps %s verify.cosign: %w", app.Name, err)
			}
			byApp[app.Name] = append(byApp[app.Name], cv)
		}
		if v.Notation != nil {
			nv, err := notation.New(v.Notation, reg)
			if err != nil {
				return nil, fmt.Errorf("apps %s verify.notation: %w", app.Name, err)
			}
			byApp[app.Name] = append(byApp[app.Name], nv)
		}
	}
	if len(byApp) == 0 {
		return nil, nil
	}
	return trust.NewChecker(byApp), nil
}
