// Package agent is ferry's loop: it schedules reconcile passes, alerts,
// verifications and their verdicts, and wires the steps that do the work
// (plan, promote, canary, verify, rollback) over the fleet repo's record
// format (ledger), its write transaction (publish), its read model
// (state) and the gate. It keeps no state that Git does not hold.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/observe"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/promote"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/rollback"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/verify"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/overlays"
)

// Fleet is the fleet repo as the agent uses it (*fleet.Repo).
type Fleet interface {
	publish.Repo
	state.Log
	FetchNotes(ctx context.Context, ref string) (*fleet.Notes, error)
}

// Names the agent's callers use from the step packages.
type (
	Version        = ledger.Version
	Step           = plan.Step
	Action         = plan.Action
	Mode           = plan.Mode
	Decision       = gate.Decision
	Ungated        = gate.Ungated
	Verification   = verify.Verification
	Progress       = verify.Progress
	RollbackResult = rollback.Result
	// ClusterVerifier and ClusterCheck are verify's, for the Kubernetes wiring.
	ClusterVerifier = verify.ClusterVerifier
	ClusterCheck    = verify.ClusterCheck
	ImageReader     = gate.Images
	QualityGates    = gate.QualityGates
	Trust           = plan.Trust
	MetricQuerier   = gate.MetricQuerier
	PullRequests    = promote.PullRequests
	Branches        = promote.Branches
)

// Actions of a plan, re-exported.
const (
	ActionNone      = plan.ActionNone
	ActionPromote   = plan.ActionPromote
	ActionWait      = plan.ActionWait
	ActionHold      = plan.ActionHold
	ActionError     = plan.ActionError
	ActionDeny      = plan.ActionDeny
	ModePullRequest = plan.ModePullRequest
)

// ErrUnknownTarget marks an alert for an app or environment ferry does not manage.
var ErrUnknownTarget = rollback.ErrUnknownTarget

// DefaultRegistryPatience is registry.patience when ferry.yaml sets none.
const DefaultRegistryPatience = 2 * time.Second

// Options wire an Agent.
type Options struct {
	Config   *config.Pipeline
	Fleet    Fleet
	Registry plan.Registry
	Logger   *slog.Logger
	Metrics  *observe.Metrics // nil: no metrics
	// Images reads image metadata and referrers (scan reports); nil: none.
	Images gate.Images
	// Trust verifies the signatures and attestations of the apps with a
	// verify: block (trust.Checker); nil: nothing is verified, and an app
	// that asks for verification is refused at New.
	Trust Trust
	// Sonar reads quality gates, by app name; apps without one have no Sonar evidence.
	Sonar map[string]gate.QualityGates
	// Prometheus answers the environments' metric queries; nil: none configured.
	Prometheus gate.MetricQuerier
	// PullRequests opens the pull requests of pullRequest environments; with
	// nil they wait for a person. Branches must be set with it.
	PullRequests promote.PullRequests
	Branches     promote.Branches
	// Reviews and Teams are the forge's side of approval: (the promotion
	// pull request's reviews, team membership); nil: none
	// (promote.ProposalReviews and promote.Teams adapt a pullrequest.Client).
	Reviews gate.Reviews
	Teams   gate.Teams
	// Analysis are the metric providers of analyses, by name (prometheus).
	Analysis analysis.Providers
	// Clusters verifies environments that name a cluster; nil: such
	// verifications are inconclusive.
	Clusters verify.ClusterVerifier
	// Apps, when set, limits the passes to the apps it returns true for:
	// one shard of a fleet shared by several replicas. Rollbacks are not
	// limited: any replica carries out any rollback.
	Apps func(app string) bool
	// Notifier hears about promotions, denials, pull requests and rollbacks.
	Notifier observe.Notifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PushAttempts bounds the fetch-reapply-push rounds of one write.
	PushAttempts int
	// PushBackoff is the first wait between those rounds; default 50 ms.
	PushBackoff time.Duration
	// RegistryConcurrency bounds parallel registry look-ups.
	RegistryConcurrency int
	// RegistryTimeout bounds one app's registry look-up; default 60 s.
	RegistryTimeout time.Duration
	// RegistryPatience is how long a pass waits for slow registries before
	// it goes on without their apps (they get a pass of their own when
	// their answer comes); default DefaultRegistryPatience.
	RegistryPatience time.Duration
	// Render checks that an edited overlay builds; nil: overlays.Render.
	Render promote.Renderer
	// Engines shares compiled policy bundles between agents of a process.
	Engines *gate.Engines
	// HTTP fetches Trivy reports by URL; nil: http.DefaultClient.
	HTTP *http.Client
	// CommitSigner is the key the fleet clone signs ferry's commits with
	// (git.signing): git.verifyCommits always trusts it for them.
	CommitSigner gitsig.Signer
}

// Agent reconciles one pipeline. Its methods are safe for concurrent use:
// writes are serialised by the publisher, rollbacks first.
type Agent struct {
	// configChanged, when set, says a fleet commit holds another
	// configuration than this agent's (WatchConfig).
	configChanged func(*fleet.Snapshot) bool
	cfg           *config.Pipeline // the apps this replica reconciles
	full          *config.Pipeline // every app: rollbacks and the record
	order         []*config.Environment
	fleet         Fleet
	now           func() time.Time

	pub        *publish.Publisher
	history    *state.History
	gate       *gate.Gate
	planner    *plan.Planner
	poller     *plan.Poller
	promoter   *promote.Promoter
	deliveries *canary.Deliveries
	verifier   *verify.Verifier
	rollbacks  *rollback.Rollbacker
	obs        *observe.Observer
	patience   time.Duration
	proposals  bool

	last atomic.Pointer[state.State] // the newest state a pass read, for Status
	// checkingGates is set while a goroutine works out gate.Ungated for a
	// new policy bundle: a pass does not wait for it.
	checkingGates atomic.Bool
	// onVerify, when set, starts a verification the moment the commit that
	// owes it is pushed (the loop sets it).
	onVerify atomic.Pointer[func(verify.Verification)]
	// onLate, when set, hears about registry answers that came after a
	// pass stopped waiting for them (the loop asks for a pass).
	onLate atomic.Pointer[func(app string)]
	// onAction, when set, hears that a person's action was pushed (the
	// loop asks for a pass, so mirrors follow at once).
	onAction atomic.Pointer[func()]
}

// New validates the wiring and builds the steps.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Fleet == nil || o.Registry == nil {
		return nil, fmt.Errorf("agent: config, fleet and registry are required")
	}
	for _, app := range o.Config.Apps {
		// Fail closed: a verify: block nobody checks would promote anything.
		if app.Verify != nil && (o.Trust == nil || !o.Trust.Verifies(app.Name)) {
			return nil, fmt.Errorf("agent: apps %s has verify:, but no verifier is wired for it", app.Name)
		}
	}
	if o.PullRequests != nil && o.Branches == nil {
		return nil, fmt.Errorf("agent: pull requests need Branches")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// 2 s: long enough for a healthy registry, short enough that a hung
	// one costs the other apps little; its apps get a pass of their own.
	if o.RegistryPatience <= 0 {
		o.RegistryPatience = DefaultRegistryPatience
	}
	if o.Render == nil {
		o.Render = overlays.Render
	}
	a := &Agent{cfg: o.Config, full: o.Config, fleet: o.Fleet, now: o.Now, patience: o.RegistryPatience,
		history: state.NewHistory(), proposals: o.PullRequests != nil}
	if o.Apps != nil {
		// A shard passes over its apps only.
		cfg := *o.Config
		cfg.Apps = nil
		for _, app := range o.Config.Apps {
			if o.Apps(app.Name) {
				cfg.Apps = append(cfg.Apps, app)
			}
		}
		a.cfg = &cfg
	}
	for _, name := range o.Config.Order() {
		env, _ := o.Config.Env(name)
		a.order = append(a.order, env)
	}
	a.obs = observe.New(o.Logger, o.Metrics, o.Notifier, o.Now)
	a.pub = publish.New(o.Fleet, publish.Options{Attempts: o.PushAttempts, Backoff: o.PushBackoff, Now: o.Now, Logger: o.Logger,
		OnRetry: func() { a.obs.Metrics.PushRetry() }})
	a.gate = gate.New(gate.Options{Config: o.Config, Log: o.Fleet, Images: o.Images, Trust: o.Trust, Sonar: o.Sonar, Prometheus: o.Prometheus,
		HTTP: o.HTTP, Now: o.Now, Logger: o.Logger, Engines: o.Engines, Reviews: o.Reviews, Teams: o.Teams})
	var err error
	if a.planner, err = plan.New(a.full, o.Fleet, a.gate, a.history, a.proposals); err != nil {
		return nil, err
	}
	var sigs *state.Signatures
	if vc := o.Config.Git.CommitVerification(); vc.Mode != state.VerifyOff {
		sl, ok := o.Fleet.(state.SignedLog)
		if !ok {
			return nil, fmt.Errorf("agent: git.verifyCommits needs a fleet repo that reads signatures")
		}
		sigs = state.NewSignatures(vc, sl, o.CommitSigner, o.Config.Git.Author.Email, o.Logger)
	}
	a.planner.Signatures = sigs
	a.gate.SetSignatures(sigs)
	a.poller = &plan.Poller{Registry: o.Registry, Trust: o.Trust, Timeout: o.RegistryTimeout, Concurrency: o.RegistryConcurrency, Done: func(app string) {
		if fn := a.onLate.Load(); fn != nil {
			(*fn)(app)
		}
	}}
	a.promoter = promote.New(promote.Options{Config: o.Config, Publisher: a.pub, Render: o.Render, Logger: o.Logger,
		PRs: o.PullRequests, Branches: o.Branches, Now: o.Now})
	a.deliveries = &canary.Deliveries{Config: o.Config, Log: o.Fleet, Render: o.Render, Now: o.Now}
	analyses := map[string]*analysis.Compiled{}
	// Sorted, so a start with several bad templates always names the same
	// one first.
	providers := slices.Sorted(maps.Keys(o.Analysis))
	for _, n := range slices.Sorted(maps.Keys(o.Config.Analyses)) {
		c, err := analysis.Compile(o.Config.Analyses[n].Template(n), providers)
		if err != nil {
			return nil, fmt.Errorf("analysis %s: %w", n, err)
		}
		analyses[n] = c
	}
	a.verifier = verify.New(verify.Options{Config: o.Config, Log: o.Fleet, Analyses: analyses, Providers: o.Analysis,
		Clusters: o.Clusters, Logger: o.Logger, Now: o.Now, Signatures: sigs})
	a.rollbacks = rollback.New(rollback.Options{Config: a.full, Publisher: a.pub, Log: o.Fleet, Render: o.Render,
		Deliveries: a.deliveries, PRs: o.PullRequests, Branches: o.Branches, Logger: o.Logger, Now: o.Now, Signatures: sigs,
		Selectors: func(app string) interface{ Allows(string) bool } { return a.planner.Selector(app) }})
	return a, nil
}

// Fleet is the fleet repo the agent reads and writes.
func (a *Agent) Fleet() Fleet { return a.fleet }

// Config returns the pipeline the agent runs.
func (a *Agent) Config() *config.Pipeline { return a.cfg }

// SetMetrics makes the agent record into m (shared across config reloads).
func (a *Agent) SetMetrics(m *observe.Metrics) { a.obs.Metrics = m }

// WatchConfig makes every pass stop before its next step once the fleet
// repo it has advanced to holds a configuration changed says is not the
// one this agent runs (ferry.yaml in the fleet repo, changed by a commit
// a pass fetched): no move is decided on a configuration that is no
// longer the repo's. The pass's Result names that commit (ConfigMoved).
func (a *Agent) WatchConfig(changed func(*fleet.Snapshot) bool) { a.configChanged = changed }

// Head fetches the fleet repo's branch head in a writer's turn (the clone
// is shared with the agent's writers).
func (a *Agent) Head(ctx context.Context) (*fleet.Snapshot, error) {
	var snap *fleet.Snapshot
	err := a.pub.Exclusive(func() error {
		var err error
		snap, err = a.fleet.Fetch(ctx)
		return err
	})
	return snap, err
}

// SetNotifier makes the agent tell n what it does.
func (a *Agent) SetNotifier(n observe.Notifier) { a.obs.Notifier = n }

// Progress returns the newest analysis of every app and environment that
// had one since the agent started.
func (a *Agent) Progress() []verify.Progress { return a.verifier.Board.Progress() }
