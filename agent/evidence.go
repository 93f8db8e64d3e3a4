package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/analysis/prometheus"
)

// Artifact types of Trivy reports attached to images as OCI referrers.
const (
	TrivyReportType = "application/vnd.aquasec.trivy.report+json"
	SARIFReportType = "application/sarif+json"
)

// ImageReader reads what the registry knows about a candidate beyond its tag.
type ImageReader interface {
	Inspect(ctx context.Context, repo, digest string, insecure bool) (registry.ImageInfo, error)
	Referrers(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, insecure bool) ([]registry.Artifact, error)
}

// QualityGates reads a SonarQube project's quality gate.
type QualityGates interface {
	QualityGate(ctx context.Context, projectKey, revision string) (sonar.Gate, error)
}

// MetricQuerier runs instant Prometheus queries.
type MetricQuerier interface {
	Instant(ctx context.Context, query string, at time.Time) (prometheus.Sample, error)
}

// evidenceCache holds what one pass learned per digest: the same candidate
// is judged for several environments, and its scan does not change.
type evidenceCache struct {
	images ImageReader
	info   map[string]registry.ImageInfo
	trivy  map[string]trivyResult
	sonar  map[string]sonarResult
}

type trivyResult struct {
	report *trivy.Report
	where  string
	note   string
}

type sonarResult struct {
	gate *sonar.Gate
	note string
}

func newEvidenceCache(images ImageReader) *evidenceCache {
	return &evidenceCache{images: images, info: map[string]registry.ImageInfo{},
		trivy: map[string]trivyResult{}, sonar: map[string]sonarResult{}}
}

func (ev *evidenceCache) inspect(ctx context.Context, app *config.App, digest string) (registry.ImageInfo, error) {
	if info, ok := ev.info[digest]; ok || ev.images == nil || digest == "" {
		return info, nil
	}
	info, err := ev.images.Inspect(ctx, app.Image, digest, app.Insecure)
	if err != nil {
		return info, fmt.Errorf("inspect %s@%s: %w", app.Image, digest, err)
	}
	ev.info[digest] = info
	return info, nil
}

const (
	defaultReportBytes     = 16 << 20
	defaultEvidenceTimeout = 10 * time.Second
)

func (a *Agent) trivyEvidence(ctx context.Context, ev *evidenceCache, st *fleetState, app *config.App, _ *config.Environment, step Step, out map[string]any, d *Decision) error {
	cfg := app.Evidence.Trivy
	if cfg == nil {
		return nil
	}
	res, ok := ev.trivy[step.Candidate.Digest]
	if !ok {
		var err error
		if res, err = a.readTrivy(ctx, ev, st, app, cfg, step.Candidate); err != nil {
			return err
		}
		ev.trivy[step.Candidate.Digest] = res
	}
	if res.report == nil {
		d.Notes = append(d.Notes, res.note)
		return nil
	}
	out["trivy"] = res.report
	s := res.report.Summary
	d.Evidence = append(d.Evidence, fmt.Sprintf("trivy %s: CRITICAL=%d HIGH=%d MEDIUM=%d LOW=%d", res.where, s["CRITICAL"], s["HIGH"], s["MEDIUM"], s["LOW"]))
	return nil
}

func (a *Agent) readTrivy(ctx context.Context, ev *evidenceCache, st *fleetState, app *config.App, cfg *config.TrivyEvidence, v Version) (trivyResult, error) {
	limit := cfg.MaxBytes
	if limit <= 0 {
		limit = defaultReportBytes
	}
	timeout := cfg.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vars := trivy.URLVars{App: app.Name, Image: app.Image, Tag: v.Tag, Digest: v.Digest, Version: v.Tag}
	var data []byte
	var where string
	switch cfg.From {
	case config.TrivyFromURL:
		url, err := trivy.ExpandURL(cfg.URL, vars)
		if err != nil {
			return trivyResult{}, fmt.Errorf("trivy report URL for %s: %w", app.Name, err)
		}
		if data, err = trivy.Fetch(ctx, http.DefaultClient, url, limit); err != nil {
			return trivyResult{}, fmt.Errorf("trivy report of %s %s: %w", app.Name, v, err)
		}
		where = "url"
	case config.TrivyFromFile:
		p, err := expand("trivy file", cfg.File, vars)
		if err != nil {
			return trivyResult{}, err
		}
		data, err = st.snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return trivyResult{note: fmt.Sprintf("no Trivy report at %s in the fleet repo", p)}, nil
		}
		if err != nil {
			return trivyResult{}, err
		}
		where = "file " + p
	default:
		if ev.images == nil {
			return trivyResult{note: "no registry to read Trivy referrers from"}, nil
		}
		arts, err := ev.images.Referrers(ctx, app.Image, v.Digest, []string{TrivyReportType, SARIFReportType}, limit, app.Insecure)
		if err != nil {
			return trivyResult{}, fmt.Errorf("trivy referrers of %s@%s: %w", app.Image, v.Digest, err)
		}
		if len(arts) == 0 {
			return trivyResult{note: fmt.Sprintf("no Trivy report is attached to %s@%s", app.Image, shortDigest(v.Digest))}, nil
		}
		data, where = arts[0].Data, "referrer "+arts[0].Digest
	}
	report, err := trivy.Parse(data)
	if err != nil {
		return trivyResult{}, fmt.Errorf("trivy report of %s %s (%s): %w", app.Name, v, where, err)
	}
	return trivyResult{report: &report, where: where}, nil
}

func (a *Agent) sonarEvidence(ctx context.Context, ev *evidenceCache, _ *fleetState, app *config.App, _ *config.Environment, step Step, out map[string]any, d *Decision) error {
	client := a.sonar[app.Name]
	if client == nil {
		return nil
	}
	res, ok := ev.sonar[step.Candidate.Digest]
	if !ok {
		info, err := ev.inspect(ctx, app, step.Candidate.Digest)
		if err != nil {
			return err
		}
		res = a.readSonar(ctx, client, app, info.Revision)
		if res.gate == nil && res.note == "" {
			return fmt.Errorf("sonar quality gate of %s", app.Name) // unreachable: readSonar sets one
		}
		ev.sonar[step.Candidate.Digest] = res
	}
	if res.gate == nil {
		d.Notes = append(d.Notes, res.note)
		return nil
	}
	out["sonar"] = res.gate
	d.Evidence = append(d.Evidence, fmt.Sprintf("sonar %s analysis %s: %s", app.Evidence.Sonar.ProjectKey, res.gate.AnalysisID, res.gate.Status))
	return nil
}

func (a *Agent) readSonar(ctx context.Context, client QualityGates, app *config.App, revision string) sonarResult {
	if revision == "" {
		return sonarResult{note: "the image has no org.opencontainers.image.revision label or annotation, so its SonarQube analysis cannot be found"}
	}
	timeout := app.Evidence.Sonar.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	gate, err := client.QualityGate(ctx, app.Evidence.Sonar.ProjectKey, revision)
	if errors.Is(err, sonar.ErrNoAnalysis) {
		return sonarResult{note: fmt.Sprintf("SonarQube has no analysis of %s at revision %s", app.Evidence.Sonar.ProjectKey, revision)}
	}
	if err != nil {
		// SonarQube down or slow: the gate cannot be judged; the evidence is
		// absent, so a policy that needs it denies and the next pass retries.
		return sonarResult{note: fmt.Sprintf("SonarQube quality gate unavailable: %v", err)}
	}
	return sonarResult{gate: &gate}
}

func (a *Agent) metricEvidence(ctx context.Context, _ *evidenceCache, _ *fleetState, app *config.App, env *config.Environment, step Step, out map[string]any, d *Decision) error {
	if len(env.Metrics) == 0 {
		return nil
	}
	if a.prom == nil {
		return fmt.Errorf("environment %s has metrics but no Prometheus provider is configured", env.Name)
	}
	vars := map[string]string{"App": app.Name, "Env": env.Name, "From": sourceOf(env), "Version": step.Candidate.Tag, "Digest": step.Candidate.Digest}
	metrics := map[string]any{}
	for _, m := range env.Metrics {
		q, err := expand("metric "+m.Name, m.Query, vars)
		if err != nil {
			return err
		}
		s, err := a.prom.Instant(ctx, q, a.now())
		switch {
		case errors.Is(err, prometheus.ErrNoData):
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s: the query returned no data", m.Name))
			continue
		case err != nil:
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s unavailable: %v", m.Name, err))
			continue
		case math.IsNaN(s.Value) || math.IsInf(s.Value, 0):
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s is %v: no judgement possible", m.Name, s.Value))
			continue
		}
		metrics[m.Name] = s.Value
		d.Evidence = append(d.Evidence, fmt.Sprintf("metric %s=%g", m.Name, s.Value))
	}
	if len(metrics) > 0 {
		out["metrics"] = metrics
	}
	return nil
}

// soakEvidence says how long the candidate has run in the source env, from
// the fleet repo's history.
func (a *Agent) soakEvidence(ctx context.Context, _ *evidenceCache, st *fleetState, app *config.App, env *config.Environment, step Step, out map[string]any, d *Decision) error {
	src := sourceOf(env)
	if src == "" {
		return nil
	}
	since, ok, err := a.runningSince(ctx, st, app, src, step.Candidate)
	if err != nil {
		return err
	}
	if !ok {
		d.Notes = append(d.Notes, fmt.Sprintf("%s does not run %s in the fleet repo's history", src, step.Candidate))
		return nil
	}
	secs := a.now().Sub(since).Seconds()
	if secs < 0 {
		secs = 0
	}
	out["soak"] = map[string]any{"env": src, "seconds": math.Floor(secs)}
	d.Evidence = append(d.Evidence, fmt.Sprintf("soak %s %s", src, time.Duration(int64(secs))*time.Second))
	return nil
}

func expand(what, tmpl string, vars any) (string, error) {
	t, err := template.New(what).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	return strings.TrimSpace(b.String()), nil
}
