// Package gate decides whether a version may move into an environment: it
// gathers the evidence about the candidate (behind one small interface,
// Source), builds the policy input (docs/policy-input.md) and asks the Rego policies of
// the fleet repo at the commit being reconciled. Evidence that could not be
// found is absent, never a zero value, so a policy that needs it denies;
// a decision that errors or times out is a denial too (fail closed).
package gate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/policies"
)

// Decision is the gate's verdict on one move, with what it was based on.
type Decision struct {
	Allow  bool     `json:"allow"`
	Deny   []string `json:"deny,omitempty"`
	Warn   []string `json:"warn,omitempty"`
	Policy string   `json:"policy"` // the bundle hash, or "none"
	// Evidence lists each fact the decision saw, one line each, as the
	// Ferry-Evidence trailers record them.
	Evidence []string `json:"evidence,omitempty"`
	// Notes say which evidence is absent and why, for people reading a denial.
	Notes []string `json:"notes,omitempty"`
	// SignedBy are the candidate's verified signatures, one line each, as
	// the Ferry-Signed-By trailers record them.
	SignedBy []string `json:"signedBy,omitempty"`
	// Input is the document the policies saw (for `ferry policy input`).
	Input map[string]any `json:"-"`
	// Approval is where the environment's approval: stands for the
	// candidate; nil when the environment has none.
	Approval *ApprovalStatus `json:"approval,omitempty"`
	// AwaitingApproval: denied, but the policies would allow the move were
	// the approvals met (the quorum counted, no rejection). A pull-request
	// environment opens its pull request for the reviews; a direct one
	// holds with Approval's reason.
	AwaitingApproval bool `json:"awaitingApproval,omitempty"`

	// untrusted is why a verified app's candidate has no signature that
	// verifies: a denial no policy can lift.
	untrusted string
}

// Record is the decision as a promotion commit carries it.
func (d *Decision) Record(from string) ledger.Gate {
	g := ledger.Gate{From: from, Policy: d.Policy, Evidence: d.Evidence, Warnings: d.Warn, SignedBy: d.SignedBy}
	if d.Approval != nil {
		g.ApprovedBy = slices.Clone(d.Approval.By)
		// A pull request's proposal is committed while the move awaits its
		// approvals: its record says so, lest the commit, landed by a
		// person, read as an approved promotion.
		if d.AwaitingApproval {
			g.Awaiting = strings.TrimPrefix(d.Approval.String(), "awaiting ")
		}
	}
	// The image's creation time goes into the commit so DORA's lead time
	// starts at the build, not at ferry's first sight of the tag.
	if c, ok := d.Input["candidate"].(map[string]any); ok {
		g.Created, _ = c["created"].(string)
	}
	return g
}

// NoPolicy marks decisions made without any policy in the fleet repo.
const NoPolicy = "none"

// Request is one move to decide.
type Request struct {
	App       *config.App
	Env       *config.Environment
	From      string // source environment, or "registry"
	Candidate ledger.Version
	Current   ledger.Version
	State     *state.State
	// Cache keeps what one pass learned per digest; nil: nothing kept.
	Cache *Cache
	// SignedBy is input.current.signed_by (state.SignedBy.Input): who
	// signed the commit that set Current; nil: absent.
	SignedBy map[string]any
	// Action is the person's request behind the move (input.request); nil:
	// ferry's own pass.
	Action *Action
}

// Source adds one kind of evidence to a decision's input: it sets its key
// of evidence when it found the fact, and otherwise says why in a note.
// An error means the evidence could not be read (not that it is absent):
// the move is not decided.
type Source interface {
	Gather(ctx context.Context, req *Request, evidence map[string]any, d *Decision) error
}

// Options wire a Gate.
type Options struct {
	Config *config.Pipeline
	Log    state.Log // history, for soak and earlier verdicts
	Images Images    // image metadata and referrers; nil: none
	// Trust verifies the signatures and attestations of the apps with a
	// verify: block; nil: none is verified.
	Trust Trust
	// Sonar reads quality gates, by app name.
	Sonar      map[string]QualityGates
	Prometheus MetricQuerier // nil: none configured
	// HTTP fetches Trivy reports named by URL; nil: a bounded client that
	// keeps credentials off redirects (internal/httpx).
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// Reviews reads the promotion pull request's reviews for approval:;
	// nil: none (only the approvals file counts).
	Reviews Reviews
	// Teams answers team: entries of approval.from; nil: only a dashboard
	// vote's OIDC groups say who is in a team.
	Teams Teams
	// Engines is a cache of compiled policy bundles by tree id, shared
	// across the gates of one process (config reloads, the simulation's
	// restarts); nil: the gate's own.
	Engines *Engines
}

// Gate decides moves for one pipeline. Safe for concurrent use.
type Gate struct {
	opts    Options
	sources []Source

	mu      sync.Mutex
	ungated map[string][]Ungated // Ungated's answer by policy bundle hash

	// sigs is nil when people's commits are not checked.
	sigs *state.Signatures
}

// New makes a gate with the evidence sources of the policy input document (docs/policy-input.md).
func New(o Options) *Gate {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Engines == nil {
		o.Engines = NewEngines()
	}
	g := &Gate{opts: o, ungated: map[string][]Ungated{}}
	g.sources = []Source{
		attestationSource{g}, trivySource{g}, sonarSource{g}, metricSource{g}, soakSource{g}, analysisSource{g}, rejectedSource{}, freezeSource{g}, approvalSource{g},
	}
	return g
}

// Engines caches compiled policy bundles by the id of their tree: a policy
// change is a commit, and only then is anything compiled again.
type Engines struct {
	mu     sync.Mutex
	byTree map[string]compiled
	// signed is the policy bundle accepted last under git.verifyCommits
	// (signedPolicies): kept here so an agent rebuilt for a new ferry.yaml
	// does not start trusting whatever the branch holds.
	signed acceptedPolicies
}

type compiled struct {
	engine *policies.Engine
	err    error
}

// NewEngines is an empty cache.
func NewEngines() *Engines { return &Engines{byTree: map[string]compiled{}} }

// maxEngines bounds the cache: each entry is one policy version. A full
// cache is cleared rather than evicted one by one: the cost is one compile
// of the live bundle, and no bookkeeping.
const maxEngines = 16

// Policies returns the compiled policies of snap. No policies/ directory,
// when ferry.yaml names no other, means no policies (nil: every move is
// allowed); a directory ferry.yaml names that does not exist, or one that
// does not compile, is an error, and every promotion stops until it is
// fixed.
func (g *Gate) Policies(ctx context.Context, snap *fleet.Snapshot) (*policies.Engine, error) {
	engine, err := g.compiled(ctx, snap)
	if err != nil || g.sigs == nil {
		return engine, err
	}
	return g.signedPolicies(ctx, snap, engine)
}

// compiled is the compiled policy bundle of snap, from the cache.
func (g *Gate) compiled(ctx context.Context, snap *fleet.Snapshot) (*policies.Engine, error) {
	dir := "policies"
	if g.opts.Config.Policies != "" {
		dir = path.Clean(g.opts.Config.Policies)
	}
	id, err := snap.ObjectID(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if p := g.opts.Config.Policies; p != "" && path.Clean(p) != path.Clean(config.DefaultPolicies) {
			// Named in ferry.yaml: a typo there must not turn every gate off.
			return nil, fmt.Errorf("policies: %s is no directory of the fleet repo at %s; no promotion until it is (remove the key from ferry.yaml for no gates)", dir, ledger.ShortHash(snap.Hash()))
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e := g.opts.Engines
	e.mu.Lock()
	// The timeout is in the key: a reload that changes policyTimeout must
	// not reuse an engine built with the old one.
	key := dir + "\x00" + id + "\x00" + g.opts.Config.PolicyTimeout.Std().String()
	c, ok := e.byTree[key]
	e.mu.Unlock()
	if ok {
		return c.engine, c.err
	}
	engine, err := policies.Load(ctx, snap.FS(), dir, policies.WithDecisionTimeout(g.opts.Config.PolicyTimeout.Std()))
	// A failed compile is cached too: a broken bundle costs one compile
	// per commit, not one per decision.
	if err != nil {
		err = fmt.Errorf("policies at %s do not compile; no promotion until they do: %w", ledger.ShortHash(snap.Hash()), err)
	}
	e.mu.Lock()
	if len(e.byTree) >= maxEngines {
		clear(e.byTree)
	}
	e.byTree[key] = compiled{engine, err}
	e.mu.Unlock()
	return engine, err
}

// Decide builds the input for req and asks the policies. An error means
// the move could not be judged (evidence unreadable, policies that do not
// compile); a policy evaluation that fails or times out is a denial that
// says so.
func (g *Gate) Decide(ctx context.Context, req *Request) (*Decision, error) {
	d, err := g.decide(ctx, req)
	if err == nil && d.untrusted != "" {
		d.Allow = false
		d.Deny = append([]string{d.untrusted}, d.Deny...)
	}
	return d, err
}

func (g *Gate) decide(ctx context.Context, req *Request) (*Decision, error) {
	// Policies first: a bundle that does not compile stops the move before
	// any evidence server is asked.
	engine, err := g.Policies(ctx, req.State.Snap)
	if err != nil {
		return nil, err
	}
	input, d, err := g.Input(ctx, req)
	if err != nil {
		return nil, err
	}
	d.Input = input
	if engine == nil {
		d.Allow, d.Policy = true, NoPolicy
		return d, nil
	}
	d.Policy = engine.Hash()
	pd, err := engine.Decide(ctx, input)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // shutting down: no decision, not a denial
		}
		d.Allow = false
		if errors.Is(err, policies.ErrDecisionTimeout) {
			d.Deny = []string{fmt.Sprintf("denied because the decision timed out (fail closed): %v", err)}
		} else {
			d.Deny = []string{fmt.Sprintf("denied because the policy decision failed (fail closed): %v", err)}
		}
		return d, nil
	}
	d.Allow, d.Deny, d.Warn = pd.Allow, pd.Deny, pd.Warn
	if !d.Allow && d.Approval != nil && d.untrusted == "" {
		// Would the approvals be all it waits for?
		if met := satisfied(input); met != nil {
			if pm, err := engine.Decide(ctx, met); err == nil && pm.Allow {
				d.AwaitingApproval = true
			} else if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	return d, nil
}

// envInput is input.environment: the name, the tier the default policies
// key on, and where versions come from, with whether that source gives a
// verdict on each version (analysis:, canary:, verify: or cluster:), so a
// policy asks for one only where one comes.
func envInput(cfg *config.Pipeline, env *config.Environment) map[string]any {
	environment := map[string]any{"name": env.Name}
	if tier := config.TierFor(*env); tier != "" {
		environment["tier"] = tier
	}
	if src := sourceOf(env); src != "" {
		environment["from"] = src
		from, ok := cfg.Env(src)
		environment["from_verifies"] = ok && state.Verifies(from)
	}
	return environment
}

// Input is the policy input (docs/policy-input.md) for req, with the decision's evidence
// lines and notes so far.
func (g *Gate) Input(ctx context.Context, req *Request) (map[string]any, *Decision, error) {
	if req.Cache == nil {
		req.Cache = NewCache(g.opts.Images)
	}
	d := &Decision{}
	environment := envInput(g.opts.Config, req.Env)
	if req.Env.Soak > 0 {
		environment["soak_seconds"] = int64(req.Env.Soak.Std() / time.Second)
	}
	if req.Env.Approval != nil {
		environment["approval"] = approvalInput(req.Env.Approval)
	}
	candidate := map[string]any{"version": req.Candidate.Tag, "tag": req.Candidate.Tag, "digest": req.Candidate.Digest}
	// The decision's clock is input.time (policies/common.rego), so the
	// document `ferry policy input` prints replays the same decision.
	app := map[string]any{"name": req.App.Name, "image": req.App.Image}
	input := map[string]any{
		"app":         app,
		"environment": environment,
		"candidate":   candidate,
		"time":        g.opts.Now().UTC().Format(time.RFC3339),
		"request":     requestInput(req.Action),
	}
	// Absent, never a zero value: "runs nothing" must not look like 0.0.0.
	if !req.Current.IsZero() {
		cur := map[string]any{"version": req.Current.Tag, "digest": req.Current.Digest}
		if req.SignedBy != nil {
			cur["signed_by"] = req.SignedBy
		}
		input["current"] = cur
	}
	if sourceOf(req.Env) != "" {
		// From another environment's overlay, where a person may have
		// written it; a first environment's candidate comes from the
		// registry itself.
		if err := req.Cache.pinned(ctx, req.App, req.Candidate); err != nil {
			return nil, nil, err
		}
	}
	info, err := req.Cache.inspect(ctx, req.App, req.Candidate.Digest)
	if err != nil {
		return nil, nil, err
	}
	if !info.Created.IsZero() {
		candidate["created"] = info.Created.UTC().Format(time.RFC3339)
	}
	if err := g.trustInput(ctx, req, app, candidate, d); err != nil {
		return nil, nil, err
	}
	evidence := map[string]any{}
	for _, s := range g.sources {
		if err := s.Gather(ctx, req, evidence, d); err != nil {
			return nil, nil, err
		}
	}
	input["evidence"] = evidence
	return input, d, nil
}

// sourceOf is where env's versions come from: its mirror target or from.
func sourceOf(env *config.Environment) string {
	if env.Mirror != "" {
		return env.Mirror
	}
	return env.From
}
