package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/analysis/prometheus"
	"github.com/ferry-dev/ferry/overlays"
)

// Trailers of a verdict note (refs/notes/ferry) on an analysed commit.
const (
	TrailerAnalysis = "Ferry-Analysis"
	TrailerVerdict  = "Ferry-Verdict"
	TrailerStep     = "Ferry-Step"
	TrailerCanary   = "Ferry-Canary"
	TrailerWeight   = "Ferry-Weight"
)

// Verification is an analysis ferry owes one commit: the verification of a
// promotion, or one step of a progressive delivery. Its verdict becomes a
// git note on Commit.
type Verification struct {
	App      string  `json:"app"`
	Env      string  `json:"env"`
	Commit   string  `json:"commit"`
	Version  Version `json:"version"` // what is analysed (.Version)
	Stable   Version `json:"stable"`
	Canary   Version `json:"canary,omitempty"`
	Template string  `json:"template,omitempty"` // "" when only readiness is checked
	// Ready waits for the env's readiness query before analysing.
	Ready bool `json:"ready"`
	// Cluster waits until the env's cluster runs the commit (Kubernetes).
	Cluster bool `json:"cluster,omitempty"`
	// Step is the progressive step ("2/4"), empty for a promotion.
	Step string `json:"step,omitempty"`
}

func (v Verification) key() string { return v.App + "\x00" + v.Env + "\x00" + v.Commit }

func (v Verification) String() string {
	what := fmt.Sprintf("%s %s in %s", v.App, v.Version.Tag, v.Env)
	if v.Step != "" {
		what += " step " + v.Step
	}
	return what
}

// Verdict is what a note says about a commit.
type Verdict struct {
	Verdict  analysis.Verdict `json:"verdict"`
	Template string           `json:"template,omitempty"`
	Commit   string           `json:"commit"`
	Reason   string           `json:"reason,omitempty"`
	Text     string           `json:"-"`
}

// readVerdict reads the note ferry wrote on commit, if any.
func readVerdict(notes *fleet.Notes, commit string) (Verdict, bool) {
	text, ok, err := notes.Get(commit)
	if err != nil || !ok {
		return Verdict{}, false
	}
	msg := fleet.ParseMessage(text)
	v := analysis.Verdict(msg.Trailer(TrailerVerdict))
	switch v {
	case analysis.Successful, analysis.Failed, analysis.Inconclusive:
	default:
		return Verdict{}, false // a note someone else wrote
	}
	return Verdict{Verdict: v, Template: msg.Trailer(TrailerAnalysis), Commit: commit, Reason: msg.Trailer(TrailerReason), Text: text}, true
}

// verdictNote is the note text: a subject, the per-metric explanation and
// trailers, so `git log --notes=ferry` reads like the commit log.
func verdictNote(v Verification, res analysis.Result) string {
	msg := fleet.Message{
		Subject: fmt.Sprintf("analysis of %s: %s", v, res.Verdict),
		Body:    res.Explain(),
		Trailers: []fleet.Trailer{
			{Key: TrailerApp, Value: v.App},
			{Key: TrailerEnv, Value: v.Env},
			{Key: TrailerVersion, Value: v.Version.Tag},
			{Key: TrailerAnalysis, Value: cmpOr(res.Template, v.Template, "readiness")},
			{Key: TrailerVerdict, Value: string(res.Verdict)},
			{Key: TrailerReason, Value: oneLine(res.Reason)},
		},
	}
	if v.Step != "" {
		msg.Trailers = append(msg.Trailers, fleet.Trailer{Key: TrailerStep, Value: v.Step})
	}
	return msg.String()
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// pendingVerifications lists the promotions whose analysis has no verdict
// yet: the version each analysed environment runs, judged on the commit
// that brought it (ferry's or a person's).
func (a *Agent) pendingVerifications(ctx context.Context, st *fleetState) ([]Verification, error) {
	var out []Verification
	for _, env := range a.order {
		if env.Analysis == "" && env.Verify == nil && env.Cluster == nil {
			continue
		}
		for i := range a.cfg.Apps {
			app := &a.cfg.Apps[i]
			es := st.envs[env.Name]
			if es.err != nil {
				continue
			}
			if env.Canary != nil && a.canaryActive(st, app, env) {
				continue // the canary's steps are analysed instead
			}
			cur := es.version(app)
			if cur.IsZero() || !a.selectors[app.Name].Allows(cur.Tag) {
				continue // nothing, or a placeholder the tag policy would never pick
			}
			if _, rejected := st.rejections.IsRejected(app.Name, cur.Tag, cur.Digest); rejected {
				continue
			}
			c, ok, err := a.runStart(ctx, st, app, env.Name, cur)
			if err != nil {
				return out, err
			}
			if !ok {
				continue
			}
			if _, done := readVerdict(st.notes, c.Hash); done {
				continue
			}
			out = append(out, Verification{App: app.Name, Env: env.Name, Commit: c.Hash, Version: cur, Stable: cur,
				Template: env.Analysis, Ready: env.Verify != nil && env.Verify.Readiness != "", Cluster: env.Cluster != nil})
		}
	}
	return out, nil
}

// analysisVerdict is the verdict of the analysis of v in env, from the note
// on the commit that brought v there; false when there is none yet.
func (a *Agent) analysisVerdict(ctx context.Context, st *fleetState, app *config.App, envName string, v Version) (Verdict, bool, error) {
	c, ok, err := a.runStart(ctx, st, app, envName, v)
	if err != nil || !ok {
		return Verdict{}, false, err
	}
	vd, ok := readVerdict(st.notes, c.Hash)
	return vd, ok, nil
}

// Verify runs one verification: readiness, then the analysis. Its error is
// only for a cancelled ctx; every other failure is a verdict.
func (a *Agent) Verify(ctx context.Context, v Verification) (analysis.Result, error) {
	env, ok := a.cfg.Env(v.Env)
	if !ok {
		return analysis.Result{}, fmt.Errorf("verify %s: unknown environment", v)
	}
	vars := analysis.Vars{App: v.App, Env: v.Env, Version: v.Version.Tag, Stable: v.Stable.Tag, Canary: v.Canary.Tag}
	start := a.now()
	var cluster analysis.Result
	if v.Cluster {
		cluster = a.verifyCluster(ctx, env, v)
		cluster.Started, cluster.Finished = start, a.now()
		if cluster.Verdict != analysis.Successful {
			return cluster, ctx.Err()
		}
	}
	if v.Ready {
		res, ready, err := a.waitReady(ctx, env, vars)
		if err != nil || !ready {
			res.Started, res.Finished = start, a.now()
			return res, err
		}
	}
	if v.Template == "" && v.Cluster && !v.Ready {
		return cluster, nil // the cluster's own account of what runs
	}
	if v.Template == "" {
		return analysis.Result{Template: "readiness", Verdict: analysis.Successful, Reason: fmt.Sprintf("%s serves %s", v.Env, v.Version.Tag),
			Started: start, Finished: a.now()}, nil
	}
	compiled, ok := a.analyses[v.Template]
	if !ok {
		return analysis.Result{Template: v.Template, Verdict: analysis.Inconclusive, Reason: fmt.Sprintf("analysis %q is not configured", v.Template)}, nil
	}
	runner := &analysis.Runner{Providers: a.providers, Now: a.now, Observe: func(m analysis.Measurement) {
		a.log.Info("measurement", "app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step, "analysis", v.Template,
			"metric", m.Metric, "value", m.Value, "phase", m.Phase, "detail", m.Detail)
		a.progress.observe(v, m)
	}}
	a.progress.start(v)
	res, err := runner.Run(ctx, compiled, vars)
	if err != nil && ctx.Err() == nil {
		// Not a cancellation: the run's own verdict (Inconclusive) says why.
		return res, nil
	}
	return res, err
}

// readinessPoll is how often the readiness query is asked.
const readinessPoll = time.Second

// waitReady polls the env's readiness query until it gives a value above
// zero. A timeout while Prometheus answered fails the version (it was never
// served); a timeout with only errors is inconclusive.
func (a *Agent) waitReady(ctx context.Context, env *config.Environment, vars analysis.Vars) (analysis.Result, bool, error) {
	res := analysis.Result{Template: "readiness"}
	query, err := renderQuery(env.Verify.Readiness, vars)
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, err.Error()
		return res, false, nil
	}
	prov, err := a.providers.Get("prometheus")
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, err.Error()
		return res, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, env.VerifyTimeout())
	defer cancel()
	var lastErr error
	answered := false
	for {
		val, err := prov.Value(ctx, query, time.Time{})
		switch {
		case err == nil && !math.IsNaN(val) && val > 0:
			return res, true, nil
		case err == nil || errors.Is(err, prometheus.ErrNoData):
			answered, lastErr = true, nil
		default:
			lastErr = err
		}
		if err := sleep(ctx, readinessPoll); err != nil {
			break
		}
	}
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.DeadlineExceeded) {
		res.Verdict, res.Reason = analysis.Inconclusive, "cancelled while waiting for readiness"
		return res, false, c
	}
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

// Record writes the verdict of v as a note on its commit and acts on it: a
// failed verification of a promotion rolls the environment back (as an
// alert would) and rejects the version; a failed canary step is aborted by
// the next pass, which reads the note.
func (a *Agent) Record(ctx context.Context, v Verification, res analysis.Result) (rollback *Alert, err error) {
	a.progress.finish(v, res)
	a.metrics.analysis(v.Env, string(res.Verdict))
	if res.Verdict == analysis.Running || res.Verdict == "" {
		return nil, fmt.Errorf("record %s: no verdict", v)
	}
	if err := a.fleet.AddNote(ctx, v.Commit, verdictNote(v, res), a.now()); err != nil {
		return nil, fmt.Errorf("record the verdict of %s on %s: %w", v, shortHash(v.Commit), err)
	}
	attrs := []any{"app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step, "analysis", res.Template,
		"verdict", res.Verdict, "reason", res.Reason, "commit", shortHash(v.Commit)}
	switch res.Verdict {
	case analysis.Successful:
		a.log.Info("analysis passed", attrs...)
		return nil, nil
	case analysis.Inconclusive:
		a.log.Warn("analysis inconclusive: the version is held", attrs...)
		return nil, nil
	}
	a.log.Error("analysis failed", attrs...)
	a.notify(notify.Event{Kind: notify.AnalysisFailed, App: v.App, Env: v.Env, Version: v.Version.Tag, Commit: v.Commit,
		Reason: fmt.Sprintf("analysis %s of %s failed: %s", res.Template, v, res.Reason)})
	if v.Step != "" {
		return nil, nil
	}
	return &Alert{App: v.App, Env: v.Env, Name: "analysis " + res.Template, Fingerprint: "analysis-" + shortHash(v.Commit),
		Cause: fmt.Sprintf("analysis %s failed for %s %s in %s: %s", res.Template, v.App, v.Version.Tag, v.Env, res.Reason)}, nil
}

// stepLabel is "i/n" for step i of n.
func stepLabel(i, n int) string { return strconv.Itoa(i) + "/" + strconv.Itoa(n) }

// analysisEvidence is input.evidence.analysis: the verdict of the source
// environment's analysis of the candidate, from the note on the commit that
// brought it there. Absent when there is none yet (fail closed).
func (a *Agent) analysisEvidence(ctx context.Context, _ *evidenceCache, st *fleetState, app *config.App, env *config.Environment, step Step, evidence map[string]any, d *Decision) error {
	src, ok := a.cfg.Env(sourceOf(env))
	if !ok || (src.Analysis == "" && src.Canary == nil && src.Verify == nil) {
		return nil
	}
	vd, found, err := a.analysisVerdict(ctx, st, app, src.Name, step.Candidate)
	if err != nil {
		return fmt.Errorf("analysis verdict of %s %s in %s: %w", app.Name, step.Candidate, src.Name, err)
	}
	if !found {
		d.Notes = append(d.Notes, fmt.Sprintf("%s has no analysis verdict for %s yet", src.Name, step.Candidate.Tag))
		return nil
	}
	entry := map[string]any{"verdict": string(vd.Verdict), "commit": vd.Commit}
	if vd.Template != "" {
		entry["template"] = vd.Template
	}
	if vd.Reason != "" {
		entry["reason"] = vd.Reason
	}
	evidence["analysis"] = map[string]any{src.Name: entry}
	d.Evidence = append(d.Evidence, fmt.Sprintf("analysis %s in %s: %s", vd.Template, src.Name, vd.Verdict))
	return nil
}

// ClusterVerifier waits until an environment's cluster runs what a commit
// holds (Kubernetes workloads, and Flux or Argo CD when they apply it).
type ClusterVerifier interface {
	Verify(ctx context.Context, check ClusterCheck) (analysis.Verdict, string, error)
}

// ClusterCheck is one such wait.
type ClusterCheck struct {
	App, Env, Commit string
	Version          Version
	// Rendered is `kustomize build` of the env's overlay at Commit.
	Rendered []byte
	Cluster  config.Cluster
	Verify   config.Verify
	Timeout  time.Duration
}

// verifyCluster renders the overlay at the commit and waits for the cluster.
// Without cluster access the verdict is inconclusive: nothing moves on.
func (a *Agent) verifyCluster(ctx context.Context, env *config.Environment, v Verification) analysis.Result {
	res := analysis.Result{Template: "kubernetes"}
	if a.clusters == nil {
		res.Verdict, res.Reason = analysis.Inconclusive, fmt.Sprintf("%s names a cluster, but ferry has no Kubernetes access configured", env.Name)
		return res
	}
	snap, err := a.fleet.Snapshot(v.Commit)
	var rendered []byte
	if err == nil {
		rendered, err = overlays.Render(snap.FS(), path.Clean(env.Overlay))
	}
	if err != nil {
		res.Verdict, res.Reason = analysis.Inconclusive, fmt.Sprintf("render %s at %s: %v", env.Overlay, shortHash(v.Commit), err)
		return res
	}
	check := ClusterCheck{App: v.App, Env: v.Env, Commit: v.Commit, Version: v.Version, Rendered: rendered,
		Cluster: *env.Cluster, Timeout: env.VerifyTimeout()}
	if env.Verify != nil {
		check.Verify = *env.Verify
	}
	verdict, reason, err := a.clusters.Verify(ctx, check)
	if err != nil {
		verdict, reason = analysis.Inconclusive, err.Error()
	}
	res.Verdict, res.Reason = verdict, reason
	return res
}
