// Package verify proves a version where it landed: it finds the
// verifications the fleet repo owes (a new version in a verified
// environment, ferry's or a person's), runs each (the cluster runs the
// commit, the readiness query answers, the analysis passes) and records
// the verdict as a note on the commit it judged. A verdict names the
// commit and version it judged; acting on it is the caller's, after
// checking that the environment still runs that commit's version.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path"
	"strings"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/analysis/prometheus"
	"github.com/ferry-dev/ferry/overlays"
)

// Verification is an analysis ferry owes one commit: the verification of
// a promotion, or one step of a progressive delivery. Its verdict becomes
// a git note on Commit.
type Verification struct {
	App      string         `json:"app"`
	Env      string         `json:"env"`
	Commit   string         `json:"commit"`
	Version  ledger.Version `json:"version"` // what is analysed (.Version)
	Stable   ledger.Version `json:"stable"`
	Canary   ledger.Version `json:"canary,omitempty"`
	Template string         `json:"template,omitempty"` // "" when only readiness or the cluster is checked
	// Ready waits for the env's readiness query before analysing.
	Ready bool `json:"ready"`
	// Cluster waits until the env's cluster runs the commit (Kubernetes).
	Cluster bool `json:"cluster,omitempty"`
	// Step is the progressive step ("2/4"), empty for a promotion.
	Step string `json:"step,omitempty"`
}

// Key identifies a verification: one per app, env and commit.
func (v Verification) Key() string { return v.App + "\x00" + v.Env + "\x00" + v.Commit }

// String names the verification in logs and errors.
func (v Verification) String() string {
	what := fmt.Sprintf("%s %s in %s", v.App, v.Version.Tag, v.Env)
	if v.Step != "" {
		what += " step " + v.Step
	}
	return what
}

// ClusterVerifier waits until an environment's cluster runs what a commit
// holds (Kubernetes workloads, and Flux or Argo CD when they apply it).
type ClusterVerifier interface {
	Verify(ctx context.Context, check ClusterCheck) (analysis.Verdict, string, error)
}

// ClusterCheck is one such wait.
type ClusterCheck struct {
	App, Env, Commit string
	Version          ledger.Version
	// Rendered is `kustomize build` of the env's overlay at Commit.
	Rendered []byte
	Cluster  config.Cluster
	Verify   config.Verify
	Timeout  time.Duration
}

// Options wire a Verifier.
type Options struct {
	Config    *config.Pipeline
	Log       state.Log
	Analyses  map[string]*analysis.Compiled
	Providers analysis.Providers
	Clusters  ClusterVerifier // nil: cluster checks are inconclusive
	Logger    *slog.Logger
	Now       func() time.Time
	// Signatures checks who signed the commits that set versions
	// (git.verifyCommits); nil: off.
	Signatures *state.Signatures
}

// Verifier runs and records verifications. Safe for concurrent use.
type Verifier struct {
	opts  Options
	Board Board // the live measurements, for status and the dashboard
}

// New makes a Verifier.
func New(o Options) *Verifier {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{opts: o}
}

// Owed lists the promotions whose verification has no verdict yet: the
// version each verified environment runs, judged on the commit that
// brought it (ferry's or a person's). Environments in a progressive
// delivery are not listed: their steps are (agent/canary).
func (v *Verifier) Owed(ctx context.Context, st *state.State, active func(app *config.App, env *config.Environment) bool, allows func(app, tag string) bool) ([]Verification, error) {
	var out []Verification
	for i := range v.opts.Config.Environments {
		env := &v.opts.Config.Environments[i]
		if !state.VerifiesPromotions(env) {
			continue
		}
		es := st.Envs[env.Name]
		if es == nil || es.Err != nil {
			continue
		}
		for j := range v.opts.Config.Apps {
			app := &v.opts.Config.Apps[j]
			if env.Canary != nil && active(app, env) {
				continue // the canary's steps are analysed instead
			}
			cur := es.Version(app)
			if cur.IsZero() || !allows(app.Name, cur.Tag) {
				continue // nothing, or a placeholder the tag policy would never pick
			}
			// A rejected version's failure was acted on already: verifying it
			// again would only ask for the same rollback.
			if _, rejected := st.Rejected(app, cur); rejected {
				continue
			}
			c, ok, err := state.RunStart(ctx, v.opts.Log, st, app, env, cur)
			if err != nil {
				return out, err
			}
			if !ok {
				continue
			}
			if _, done := st.Note(c.Hash).For(app.Name, env.Name, "", ledger.Version{Tag: cur.Tag}); done {
				continue
			}
			// Under git.verifyCommits require, a version set by a commit
			// no trusted signer signed is not the environment's: it is not
			// verified (Check logs it once).
			if v.opts.Signatures.Mode() == state.VerifyRequire {
				sb, err := v.opts.Signatures.Check(ctx, st.Snap, c.Hash)
				if err != nil {
					return out, err
				}
				if !sb.Verified {
					continue
				}
			}
			out = append(out, Verification{App: app.Name, Env: env.Name, Commit: c.Hash, Version: cur, Stable: cur,
				Template: env.Analysis, Ready: env.Verify != nil && env.Verify.Readiness != "", Cluster: env.Cluster != nil})
		}
	}
	return out, nil
}

// Run runs one verification: the cluster, readiness, then the analysis.
// Its error is only for a cancelled ctx; every other failure is a verdict.
func (v *Verifier) Run(ctx context.Context, ver Verification) (analysis.Result, error) {
	env, ok := v.opts.Config.Env(ver.Env)
	if !ok {
		return analysis.Result{}, fmt.Errorf("verify %s: unknown environment", ver)
	}
	vars := analysis.Vars{App: ver.App, Env: ver.Env, Version: ver.Version.Tag, Stable: ver.Stable.Tag, Canary: ver.Canary.Tag}
	start := v.opts.Now()
	v.Board.start(ver, start)
	// The order matters: measuring before the cluster runs the commit, or
	// before it serves, would judge the previous version's traffic.
	var cluster analysis.Result
	if ver.Cluster {
		cluster = v.verifyCluster(ctx, env, ver)
		cluster.Started, cluster.Finished = start, v.opts.Now()
		if cluster.Verdict != analysis.Successful {
			return cluster, ctx.Err()
		}
	}
	if ver.Ready {
		res, ready, err := v.waitReady(ctx, env, vars)
		if err != nil || !ready {
			res.Started, res.Finished = start, v.opts.Now()
			return res, err
		}
	}
	if ver.Template == "" && ver.Cluster && !ver.Ready {
		return cluster, nil // the cluster's own account of what runs
	}
	if ver.Template == "" {
		return analysis.Result{Template: "readiness", Verdict: analysis.Successful, Reason: fmt.Sprintf("%s serves %s", ver.Env, ver.Version.Tag),
			Started: start, Finished: v.opts.Now()}, nil
	}
	compiled, ok := v.opts.Analyses[ver.Template]
	// Inconclusive, not Failed: a config mistake says nothing about the
	// version, so it holds the version without rolling it back.
	if !ok {
		return analysis.Result{Template: ver.Template, Verdict: analysis.Inconclusive, Reason: fmt.Sprintf("analysis %q is not configured", ver.Template)}, nil
	}
	runner := &analysis.Runner{Providers: v.opts.Providers, Now: v.opts.Now, Observe: func(m analysis.Measurement) {
		v.opts.Logger.Info("measurement", "app", ver.App, "env", ver.Env, "version", ver.Version.Tag, "step", ver.Step, "analysis", ver.Template,
			"metric", m.Metric, "value", m.Value, "phase", m.Phase, "detail", m.Detail)
		v.Board.observe(ver, m)
	}}
	res, err := runner.Run(ctx, compiled, vars)
	if err != nil && ctx.Err() == nil {
		// Not a cancellation: the run's own verdict (Inconclusive) says why.
		return res, nil
	}
	return res, err
}

// readinessPoll is how often the readiness query is asked: readiness is
// seen within a second of the rollout, at one instant query a second.
const readinessPoll = time.Second

// waitReady polls the env's readiness query until it gives a value above
// zero. A timeout while Prometheus answered fails the version (it was never
// served); a timeout with only errors is inconclusive.
func (v *Verifier) waitReady(ctx context.Context, env *config.Environment, vars analysis.Vars) (analysis.Result, bool, error) {
	res := analysis.Result{Template: "readiness"}
	query, err := renderQuery(env.Verify.Readiness, vars)
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, err.Error()
		return res, false, nil
	}
	prov, err := v.opts.Providers.Get("prometheus")
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, err.Error()
		return res, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, env.VerifyTimeout())
	defer cancel()
	var lastErr error
	answered := false
	ready := false
	_ = wait.PollUntilContextCancel(ctx, readinessPoll, true, func(ctx context.Context) (bool, error) {
		val, err := prov.Value(ctx, query, time.Time{})
		switch {
		case err != nil && ctx.Err() != nil:
			// Our own deadline cut the last query: it says nothing about Prometheus.
		case err == nil && !math.IsNaN(val) && val > 0:
			ready = true
		// No series is an answer too: nothing serves the version yet.
		case err == nil || errors.Is(err, prometheus.ErrNoData):
			answered, lastErr = true, nil
		default:
			lastErr = err
		}
		return ready, nil
	})
	if ready {
		return res, true, nil
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.DeadlineExceeded) {
		res.Verdict, res.Reason = analysis.Inconclusive, "cancelled while waiting for readiness"
		return res, false, c
	}
	// Failed needs proof: Prometheus kept answering "not served". If its
	// last word was an error, nobody knows, and Inconclusive holds instead.
	if answered && lastErr == nil {
		res.Verdict = analysis.Failed
		res.Reason = fmt.Sprintf("%s did not serve %s within %s (readiness query %s)", env.Name, vars.Version, env.VerifyTimeout(), query)
	} else {
		res.Verdict = analysis.Inconclusive
		res.Reason = fmt.Sprintf("readiness of %s in %s unknown after %s: %v", vars.Version, env.Name, env.VerifyTimeout(), lastErr)
	}
	return res, false, nil
}

func renderQuery(q string, vars analysis.Vars) (string, error) {
	// missingkey=error: a misspelt field must fail, not render "<no value>"
	// into a query that then measures something else.
	t, err := template.New("query").Option("missingkey=error").Parse(q)
	if err != nil {
		return "", fmt.Errorf("readiness query: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("readiness query: %w", err)
	}
	return b.String(), nil
}

// verifyCluster renders the overlay at the commit and waits for the
// cluster. Without cluster access the verdict is inconclusive: nothing
// moves on.
func (v *Verifier) verifyCluster(ctx context.Context, env *config.Environment, ver Verification) analysis.Result {
	res := analysis.Result{Template: "kubernetes"}
	if v.opts.Clusters == nil {
		res.Verdict, res.Reason = analysis.Inconclusive, fmt.Sprintf("%s names a cluster, but ferry has no Kubernetes access configured", env.Name)
		return res
	}
	// Rendered at the judged commit, not the head: the cluster is compared
	// to what that commit holds, whatever moved since.
	snap, err := v.opts.Log.Snapshot(ver.Commit)
	var rendered []byte
	if err == nil {
		rendered, err = overlays.Render(snap.FS(), path.Clean(env.Overlay))
	}
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, fmt.Sprintf("render %s at %s: %v", env.Overlay, ledger.ShortHash(ver.Commit), err)
		return res
	}
	check := ClusterCheck{App: ver.App, Env: ver.Env, Commit: ver.Commit, Version: ver.Version, Rendered: rendered,
		Cluster: *env.Cluster, Timeout: env.VerifyTimeout()}
	if env.Verify != nil {
		check.Verify = *env.Verify
	}
	verdict, reason, err := v.opts.Clusters.Verify(ctx, check)
	if err != nil {
		verdict, reason = analysis.Inconclusive, err.Error()
	}
	res.Verdict, res.Reason = verdict, reason
	return res
}

// Verdict is the ledger record of res, for ver.
func Verdict(ver Verification, res analysis.Result) ledger.Verdict {
	name := res.Template
	if name == "" {
		name = ver.Template
	}
	if name == "" {
		name = "readiness"
	}
	return ledger.Verdict{App: ver.App, Env: ver.Env, Version: ver.Version, Analysis: name, Verdict: string(res.Verdict),
		Reason: res.Reason, Step: ver.Step, Explain: res.Explain()}
}

// Record writes the verdict of ver as (part of) the note on its commit;
// the note keeps every other verdict made on that commit.
func (v *Verifier) Record(ctx context.Context, pub *publish.Publisher, ver Verification, res analysis.Result) error {
	v.Board.finish(ver, res)
	if res.Verdict == analysis.Running || res.Verdict == "" {
		return fmt.Errorf("record %s: no verdict", ver)
	}
	vd := Verdict(ver, res)
	err := pub.Note(ctx, ver.Commit, func(n ledger.Note) (ledger.Note, bool) { return n.With(vd), true })
	if err != nil {
		return fmt.Errorf("record the verdict of %s on %s: %w", ver, ledger.ShortHash(ver.Commit), err)
	}
	return nil
}
