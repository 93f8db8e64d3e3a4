// Package agent is ferry's reconcile loop: it reads the fleet repo and the
// registries, plans which version each environment should run, and writes
// each promotion as a commit. It keeps no state that Git does not hold.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/analysis"
)

// Fleet is the fleet repo as the agent uses it.
type Fleet interface {
	Fetch(ctx context.Context) (*fleet.Snapshot, error)
	Commit(parent *fleet.Snapshot, files map[string][]byte, msg fleet.Message, when time.Time) (*fleet.Snapshot, error)
	Push(ctx context.Context, s *fleet.Snapshot) error
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
	LogPath(ctx context.Context, from *fleet.Snapshot, path string, fn func(fleet.Commit) (bool, error)) error
	Snapshot(hash string) (*fleet.Snapshot, error)
	FetchNotes(ctx context.Context) (*fleet.Notes, error)
	AddNote(ctx context.Context, commit, text string, when time.Time) error
}

// Registry lists and resolves tags of image repositories.
type Registry interface {
	Tags(ctx context.Context, repo string, insecure bool) ([]string, error)
	Resolve(ctx context.Context, repo, tag string, insecure bool) (registry.Descriptor, error)
}

// Options wires an Agent.
type Options struct {
	Config   *config.Pipeline
	Fleet    Fleet
	Registry Registry
	Logger   *slog.Logger
	Metrics  *Metrics // nil: no metrics
	// Images reads image metadata and referrers (scan reports); nil: none.
	Images ImageReader
	// Sonar reads quality gates, by app name; apps without one have no Sonar evidence.
	Sonar map[string]QualityGates
	// Prometheus answers the environments' metric queries; nil: none configured.
	Prometheus MetricQuerier
	// PullRequests opens the pull requests of pullRequest environments; with
	// nil they wait for a person. Branches must be set with it.
	PullRequests PullRequests
	Branches     Branches
	// Analysis are the metric providers of analyses, by name (prometheus).
	Analysis analysis.Providers
	// Clusters verifies environments that name a cluster; nil: such
	// verifications are inconclusive.
	Clusters ClusterVerifier
	// Apps, when set, limits the agent to the apps it returns true for: one
	// shard of a fleet shared by several replicas.
	Apps func(app string) bool
	// Notifier hears about promotions, denials, pull requests and rollbacks.
	Notifier Notifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PushAttempts bounds the fetch-reapply-push retries on a moving remote.
	PushAttempts int
	// RegistryConcurrency bounds parallel registry look-ups in a pass.
	RegistryConcurrency int
}

// Agent reconciles one pipeline.
type Agent struct {
	cfg       *config.Pipeline
	fleet     Fleet
	reg       Registry
	log       *slog.Logger
	metrics   *Metrics
	now       func() time.Time
	attempts  int
	regConc   int
	selectors map[string]*registry.Selector
	order     []*config.Environment
	images    ImageReader
	sonar     map[string]QualityGates
	prom      MetricQuerier
	prs       PullRequests
	branches  Branches
	notifier  Notifier
	policy    *policyCache // compiled policies of the last policy tree seen
	analyses  map[string]*analysis.Compiled
	providers analysis.Providers
	clusters  ClusterVerifier
	progress  progressBoard

	mu      sync.Mutex // one pass at a time: ferry has a single writer
	history *history
	seen    map[string]time.Time // candidate key -> first seen, for the duration metric
	// verdicts holds the last logged verdict per candidate key.
	verdicts map[string]string
}

// New validates the wiring and prepares tag selectors.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Fleet == nil || o.Registry == nil {
		return nil, fmt.Errorf("agent: config, fleet and registry are required")
	}
	a := &Agent{
		cfg:       o.Config,
		fleet:     o.Fleet,
		reg:       o.Registry,
		log:       o.Logger,
		metrics:   o.Metrics,
		now:       o.Now,
		attempts:  o.PushAttempts,
		regConc:   o.RegistryConcurrency,
		selectors: make(map[string]*registry.Selector, len(o.Config.Apps)),
		history:   newHistory(),
		seen:      map[string]time.Time{},
		verdicts:  map[string]string{},
		images:    o.Images,
		sonar:     o.Sonar,
		prom:      o.Prometheus,
		prs:       o.PullRequests,
		branches:  o.Branches,
		notifier:  o.Notifier,
		providers: o.Analysis,
		clusters:  o.Clusters,
		analyses:  map[string]*analysis.Compiled{},
	}
	names := slices.Sorted(maps.Keys(o.Analysis))
	for _, n := range slices.Sorted(maps.Keys(o.Config.Analyses)) {
		c, err := analysis.Compile(o.Config.Analyses[n].Template(n), names)
		if err != nil {
			return nil, fmt.Errorf("analysis %s: %w", n, err)
		}
		a.analyses[n] = c
	}
	if o.Apps != nil {
		// A shard sees only its apps; config lookups for others fail as unknown.
		cfg := *o.Config
		cfg.Apps = nil
		for _, app := range o.Config.Apps {
			if o.Apps(app.Name) {
				cfg.Apps = append(cfg.Apps, app)
			}
		}
		a.cfg = &cfg
	}
	if a.prs != nil && a.branches == nil {
		return nil, fmt.Errorf("agent: pull requests need Branches")
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.attempts <= 0 {
		a.attempts = 5
	}
	if a.regConc <= 0 {
		a.regConc = 16
	}
	for i := range o.Config.Apps {
		app := &o.Config.Apps[i]
		sel, err := registry.NewSelector(registry.TagPolicy{
			Semver: app.Tags.Semver, Regex: app.Tags.Regex, Order: app.Tags.Order, Digest: app.Tags.Digest,
		})
		if err != nil {
			return nil, fmt.Errorf("app %s: %w", app.Name, err)
		}
		a.selectors[app.Name] = sel
	}
	for _, name := range o.Config.Order() {
		env, _ := o.Config.Env(name)
		a.order = append(a.order, env)
	}
	return a, nil
}

// Fleet is the fleet repo the agent reads and writes.
func (a *Agent) Fleet() Fleet { return a.fleet }

// Config returns the pipeline the agent runs.
func (a *Agent) Config() *config.Pipeline { return a.cfg }
