// Package dora computes the four DORA metrics of one environment from the
// fleet repo's history: deployment frequency, lead time for changes, change
// failure rate and time to restore. Git is the only input: a deployment is a
// commit that changed an app's version in the environment's overlay (read by
// content, along the first-parent chain), whether ferry or a person wrote it.
package dora

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
)

// Source is the part of the fleet repo the metrics are read from;
// *fleet.Repo satisfies it.
type Source interface {
	Log(ctx context.Context, from *fleet.Snapshot, fn func(fleet.Commit) (bool, error)) error
	LogPath(ctx context.Context, from *fleet.Snapshot, path string, fn func(fleet.Commit) (bool, error)) error
	Snapshot(hash string) (*fleet.Snapshot, error)
}

// Options narrow what Compute measures.
type Options struct {
	// Env is the environment measured; default the last environment of the
	// pipeline's order that is not a mirror (prod).
	Env string
	// App limits the report to one app; default every app.
	App string
	// Since is the window's length, ending at Now; 0 means the whole history.
	Since time.Duration
	// Now ends the window; default time.Now().
	Now time.Time
}

// Change kinds.
const (
	KindDeployment  = "deployment"
	KindRollback    = "rollback"
	KindCanaryAbort = "canary-abort"
)

// Lead time origins.
const (
	OriginCreated   = "created"   // the Ferry-Created trailer: the image's creation time
	OriginFirstSeen = "firstSeen" // the version's first appearance in any environment
)

// Report is the DORA metrics of one environment over a window.
type Report struct {
	Env     string      `json:"env"`
	Head    string      `json:"head"`
	From    time.Time   `json:"from"`
	To      time.Time   `json:"to"`
	Days    float64     `json:"days"`
	Overall Metrics     `json:"overall"`
	Apps    []AppReport `json:"apps"`
}

// AppReport is one app's metrics and the changes they were computed from.
type AppReport struct {
	App string `json:"app"`
	Metrics
	History []Change `json:"history"`
}

// Metrics are the four DORA metrics and the counts behind them.
type Metrics struct {
	Deployments       int     `json:"deployments"`
	DeploymentsPerDay float64 `json:"deploymentsPerDay"`
	// LeadTime is deployment commit time minus the version's origin.
	LeadTime Durations `json:"leadTimeSeconds"`
	// Changes are deployments plus aborted canaries: every attempt to
	// change what the environment serves.
	Changes           int     `json:"changes"`
	Failures          int     `json:"failures"`
	RolledBack        int     `json:"rolledBack"`
	AbortedCanaries   int     `json:"abortedCanaries"`
	ChangeFailureRate float64 `json:"changeFailureRate"`
	Rollbacks         int     `json:"rollbacks"`
	// TimeToRestore is a rollback -> the next deployment that was not rolled back.
	TimeToRestore Durations `json:"timeToRestoreSeconds"`
	// OpenIncidents are rollbacks not yet followed by a good deployment.
	OpenIncidents int `json:"openIncidents"`
}

// Durations summarises a set of durations, in seconds. With Count 0 the
// other fields are 0 and mean nothing.
type Durations struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	Mean  float64 `json:"mean"`
}

// Change is one commit that changed (or tried to change) what the
// environment serves of an app.
type Change struct {
	Kind    string    `json:"kind"`
	Commit  string    `json:"commit"`
	Time    time.Time `json:"time"`
	Author  string    `json:"author"`
	Subject string    `json:"subject"`
	Version string    `json:"version"`
	From    string    `json:"from,omitempty"`
	ByFerry bool      `json:"byFerry"`
	// LeadTimeSeconds and LeadTimeFrom are set on deployments.
	LeadTimeSeconds *float64 `json:"leadTimeSeconds,omitempty"`
	LeadTimeFrom    string   `json:"leadTimeFrom,omitempty"`
	// FailedBy is the commit that rolled the deployment back.
	FailedBy string `json:"failedBy,omitempty"`
	// RestoredBy and RestoreSeconds are set on a rollback that opened an
	// incident which a good deployment closed.
	RestoredBy     string   `json:"restoredBy,omitempty"`
	RestoreSeconds *float64 `json:"restoreSeconds,omitempty"`
}

// DefaultEnv is the environment DORA measures by default: the last one of
// the pipeline's order that is not a mirror. A mirror (dr) only copies its
// target's changes; the last environment that decides for itself is prod.
func DefaultEnv(cfg *config.Pipeline) (string, error) {
	order := cfg.Order()
	for i := len(order) - 1; i >= 0; i-- {
		if e, ok := cfg.Env(order[i]); ok && e.Mirror == "" {
			return e.Name, nil
		}
	}
	return "", errors.New("dora: the pipeline has no environment that is not a mirror")
}

// Compute reads the history behind head and measures o.Env.
func Compute(ctx context.Context, repo Source, head *fleet.Snapshot, cfg *config.Pipeline, o Options) (Report, error) {
	r, _, err := compute(ctx, repo, head, cfg, o, nil)
	return r, err
}

// compute is Compute reusing prev, the history of an earlier head, and
// returning head's for the next call.
func compute(ctx context.Context, repo Source, head *fleet.Snapshot, cfg *config.Pipeline, o Options, prev *history) (Report, *history, error) {
	if head == nil {
		return Report{}, nil, errors.New("dora: no commit to read")
	}
	if o.Since < 0 {
		return Report{}, nil, fmt.Errorf("dora: since %s is negative", o.Since)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Env == "" {
		env, err := DefaultEnv(cfg)
		if err != nil {
			return Report{}, nil, err
		}
		o.Env = env
	}
	target, ok := cfg.Env(o.Env)
	if !ok {
		return Report{}, nil, fmt.Errorf("dora: environment %q is not in the pipeline (have %v)", o.Env, envNames(cfg))
	}
	apps := cfg.Apps
	if o.App != "" {
		app, ok := cfg.App(o.App)
		if !ok {
			return Report{}, nil, fmt.Errorf("dora: app %q is not in the pipeline", o.App)
		}
		apps = []config.App{*app}
	}
	h, err := readHistory(ctx, repo, head, cfg, target, prev)
	if err != nil {
		return Report{}, nil, err
	}
	r := Report{Env: target.Name, Head: head.Hash(), To: o.Now.UTC()}
	switch {
	case o.Since > 0:
		r.From = o.Now.Add(-o.Since).UTC()
	// The whole history starts at the environment's first commit, so the
	// repository's earlier life does not dilute the per-day rate.
	case len(h.targetCommits()) > 0:
		r.From = h.targetCommits()[0].commit.Time.UTC()
	default:
		r.From = r.To
	}
	r.Days = r.To.Sub(r.From).Hours() / 24
	r.Apps = make([]AppReport, 0, len(apps))
	byApp := analyze(h, apps, target.Name)
	var all []appResult
	for i := range apps {
		res := byApp[apps[i].Name].window(r.From, r.To)
		all = append(all, res)
		r.Apps = append(r.Apps, AppReport{App: apps[i].Name, Metrics: res.metrics(r.Days), History: res.list()})
	}
	r.Overall = merge(all).metrics(r.Days)
	return r, h, nil
}

func envNames(cfg *config.Pipeline) []string {
	out := make([]string, 0, len(cfg.Environments))
	for _, e := range cfg.Environments {
		out = append(out, e.Name)
	}
	return slices.Clip(out)
}
