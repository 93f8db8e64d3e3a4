package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/analysis/prometheus"
)

// Artifact types of evidence attached to images as OCI referrers.
const (
	TrivyReportType = "application/vnd.aquasec.trivy.report+json"
	SARIFReportType = "application/sarif+json"
	// SonarReportTaskType is a sonar-scanner report-task.txt. No vendor
	// type exists for it; this one is ferry's.
	SonarReportTaskType = "application/vnd.ferry.sonar.report-task+text"
)

// KindAnnotation on a scan's referrer says what was scanned: KindImage (the
// image itself; also a report without the annotation, as every report was
// before kinds) or KindFS (the source tree, `trivy fs`).
const (
	KindAnnotation = "dev.ferry.evidence.kind"
	KindImage      = "image"
	KindFS         = "fs"
)

// ScanKind is the kind of the scan a referrer carries: its KindAnnotation,
// KindImage when it has none.
func ScanKind(annotations map[string]string) string {
	if k := annotations[KindAnnotation]; k != "" {
		return k
	}
	return KindImage
}

// Images reads what the registry knows about a candidate beyond its tag.
type Images interface {
	Resolve(ctx context.Context, repo, tag string, insecure bool) (registry.Descriptor, error)
	Inspect(ctx context.Context, repo, digest string, insecure bool) (registry.ImageInfo, error)
	Referrers(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, insecure bool) ([]registry.Artifact, error)
}

// QualityGates reads a SonarQube project's quality gate.
type QualityGates interface {
	QualityGate(ctx context.Context, projectKey, revision string) (sonar.Gate, error)
}

// TaskGates reads the quality gate of the analysis a SonarQube
// report-task.txt names (its ceTaskId). A QualityGates that is one binds
// an image to the analysis attached to it; sonar.Client is one.
type TaskGates interface {
	TaskGate(ctx context.Context, projectKey, taskID string) (sonar.Gate, error)
}

// MetricQuerier runs instant Prometheus queries.
type MetricQuerier interface {
	Instant(ctx context.Context, query string, at time.Time) (prometheus.Sample, error)
}

// Cache holds what one pass learned per digest: the same candidate is
// judged for several environments, and its scan does not change.
type Cache struct {
	images Images
	tags   map[string]string // image:tag -> the digest the registry has for it
	info   map[string]registry.ImageInfo
	trivy  map[string]trivyResult
	sonar  map[string]sonarResult
	trust  map[string]trust.Result // app \x00 digest
	// proposals and members are the forge's answers for approvals.
	proposals map[string]proposalReviews // app \x00 env \x00 version
	members   map[string]bool            // team \x00 user
}

// NewCache is an empty per-pass cache over the gate's registry.
func (g *Gate) NewCache() *Cache { return NewCache(g.opts.Images) }

// NewCache is an empty per-pass cache.
func NewCache(images Images) *Cache {
	return &Cache{images: images, tags: map[string]string{}, info: map[string]registry.ImageInfo{},
		trivy: map[string]trivyResult{}, sonar: map[string]sonarResult{}, trust: map[string]trust.Result{},
		proposals: map[string]proposalReviews{}, members: map[string]bool{}}
}

// pinned checks that a candidate taken from an environment's overlay is
// a version ferry can stand behind: for an app that follows a moving tag,
// a digest (without one, the tag is whatever the registry says next); for
// the others, a tag the registry resolves to the pinned digest. A person's
// edit that left `newTag: 9.9.9` beside 1.2.0's digest, or dropped the
// digest of `latest`, would otherwise be promoted onward under a name
// that is not what runs.
func (c *Cache) pinned(ctx context.Context, app *config.App, v ledger.Version) error {
	if state.Moving(app) {
		if v.Digest == "" {
			return fmt.Errorf("%s %s has no digest: for an app that follows a moving tag the digest is the version, "+
				"and ferry promotes only a pinned one (put the digest back in the overlay)", app.Name, v.Tag)
		}
		return nil
	}
	if c.images == nil || v.Digest == "" || v.Tag == "" {
		return nil // a tag alone is that version: nothing to compare
	}
	ref := app.Image + ":" + v.Tag // apps share tags (1.0.0), never images
	got, ok := c.tags[ref]
	if !ok {
		d, err := c.images.Resolve(ctx, app.Image, v.Tag, app.Insecure)
		if err != nil && !registry.IsNotFound(err) {
			return fmt.Errorf("check that %s %s is %s: %w", app.Name, v.Tag, ledger.ShortDigest(v.Digest), err)
		}
		got, c.tags[ref] = d.Digest, d.Digest
	}
	switch {
	case got == "":
		return fmt.Errorf("the overlay names %s %s with digest %s, but the registry has no tag %s: ferry promotes only a tag and digest that agree (fix the overlay)",
			app.Name, v.Tag, ledger.ShortDigest(v.Digest), v.Tag)
	case got != v.Digest:
		return fmt.Errorf("the overlay names %s %s with digest %s, but the registry's %s is %s (a person's edit, or the tag was pushed again): "+
			"ferry promotes only a tag and digest that agree (fix the overlay)", app.Name, v.Tag, ledger.ShortDigest(v.Digest), v.Tag, ledger.ShortDigest(got))
	}
	return nil
}

// inspect reads the image config once per digest. A tag without a digest
// (a person's pin) has nothing to inspect: its creation time is absent.
func (c *Cache) inspect(ctx context.Context, app *config.App, digest string) (registry.ImageInfo, error) {
	if info, ok := c.info[digest]; ok || c.images == nil || digest == "" {
		return info, nil
	}
	info, err := c.images.Inspect(ctx, app.Image, digest, app.Insecure)
	if err != nil {
		return info, fmt.Errorf("inspect %s@%s: %w", app.Image, digest, err)
	}
	c.info[digest] = info
	return info, nil
}

// Defaults for evidence reads. 16 MiB holds the report of a large image
// and still bounds a hostile answer; a server slower than 10 s counts as
// down for this pass, and the next pass asks again.
const (
	defaultReportBytes     = 16 << 20
	defaultEvidenceTimeout = 10 * time.Second
)

// metricSource is input.evidence.metrics: the environment's instant queries.
type metricSource struct{ g *Gate }

func (s metricSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	env := req.Env
	if len(env.Metrics) == 0 {
		return nil
	}
	prom := s.g.opts.Prometheus
	// A config mistake, not absent evidence: it must be seen, not hidden
	// behind a denial (or an allow, under a lax policy).
	if prom == nil {
		return fmt.Errorf("environment %s has metrics but no Prometheus provider is configured", env.Name)
	}
	vars := map[string]string{"App": req.App.Name, "Env": env.Name, "From": sourceOf(env), "Version": req.Candidate.Tag, "Digest": req.Candidate.Digest}
	metrics := map[string]any{}
	for _, m := range env.Metrics {
		q, err := Expand("metric "+m.Name, m.Query, vars)
		if err != nil {
			return err
		}
		// Each failure below leaves the metric absent, so a policy that
		// needs it denies. NaN or Inf compare false with any threshold:
		// passed on, `deny if x > limit` would let them through.
		sample, err := prom.Instant(ctx, q, s.g.opts.Now())
		switch {
		case errors.Is(err, prometheus.ErrNoData):
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s: the query returned no data", m.Name))
			continue
		case err != nil:
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s unavailable: %v", m.Name, err))
			continue
		case math.IsNaN(sample.Value) || math.IsInf(sample.Value, 0):
			d.Notes = append(d.Notes, fmt.Sprintf("metric %s is %v: no judgement possible", m.Name, sample.Value))
			continue
		}
		metrics[m.Name] = sample.Value
		d.Evidence = append(d.Evidence, fmt.Sprintf("metric %s=%g", m.Name, sample.Value))
	}
	if len(metrics) > 0 {
		out["metrics"] = metrics
	}
	return nil
}

// soakSource is input.evidence.soak: how long the source environment has
// run the candidate, from the fleet repo's history.
type soakSource struct{ g *Gate }

func (s soakSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	src, ok := s.g.opts.Config.Env(sourceOf(req.Env))
	if !ok {
		return nil
	}
	since, ok, err := state.SoakSince(ctx, s.g.opts.Log, req.State, req.App, src, req.Candidate)
	if err != nil {
		return err
	}
	if !ok {
		d.Notes = append(d.Notes, fmt.Sprintf("%s does not run %s in the fleet repo's history", src.Name, req.Candidate))
		return nil
	}
	// A commit time ahead of ferry's clock (skew) is no soak, not a
	// negative one.
	secs := max(s.g.opts.Now().Sub(since).Seconds(), 0)
	out["soak"] = map[string]any{"env": src.Name, "seconds": math.Floor(secs)}
	d.Evidence = append(d.Evidence, fmt.Sprintf("soak %s %s", src.Name, time.Duration(int64(secs))*time.Second))
	return nil
}

// analysisSource is input.evidence.analysis: the source environment's
// verdict on the candidate, from the note on the commit that brought it
// there. Absent while there is none (fail closed).
type analysisSource struct{ g *Gate }

func (s analysisSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	src, ok := s.g.opts.Config.Env(sourceOf(req.Env))
	if !ok || !state.Verifies(src) {
		return nil
	}
	vd, c, found, err := state.Verdict(ctx, s.g.opts.Log, req.State, req.App, src, req.Candidate)
	if err != nil {
		return fmt.Errorf("analysis verdict of %s %s in %s: %w", req.App.Name, req.Candidate, src.Name, err)
	}
	if !found {
		d.Notes = append(d.Notes, fmt.Sprintf("%s has no analysis verdict for %s yet", src.Name, req.Candidate.Tag))
		return nil
	}
	entry := map[string]any{"verdict": vd.Verdict, "commit": c.Hash}
	if vd.Analysis != "" {
		entry["template"] = vd.Analysis
	}
	if vd.Reason != "" {
		entry["reason"] = vd.Reason
	}
	out["analysis"] = map[string]any{src.Name: entry}
	d.Evidence = append(d.Evidence, fmt.Sprintf("analysis %s in %s: %s", vd.Analysis, src.Name, vd.Verdict))
	return nil
}

// rejectedSource is input.evidence.rejected: the app's rejected versions.
type rejectedSource struct{}

func (rejectedSource) Gather(_ context.Context, req *Request, out map[string]any, _ *Decision) error {
	if req.State.Rejections == nil {
		return nil
	}
	if versions := req.State.Rejections.Versions(req.App.Name); len(versions) > 0 {
		out["rejected"] = versions
	}
	return nil
}

// freezeSource is input.evidence.freeze: the freezes that hold now.
type freezeSource struct{ g *Gate }

func (s freezeSource) Gather(_ context.Context, req *Request, out map[string]any, d *Decision) error {
	if req.State.Freezes == nil {
		return nil
	}
	var freezes []any
	for _, f := range req.State.Freezes.Active(req.App.Name, req.Env.Name, s.g.opts.Now()) {
		freezes = append(freezes, f.Evidence())
		d.Evidence = append(d.Evidence, fmt.Sprintf("freeze %s: %s", f.Name, f.Reason))
	}
	if len(freezes) > 0 {
		out["freeze"] = freezes
	}
	return nil
}

// Expand executes a Go template over vars; a missing key is an error.
func Expand(what, tmpl string, vars any) (string, error) {
	t, err := template.New(what).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("%s template: %w", what, err)
	}
	// A template written as a YAML block scalar ends in a newline, which
	// would break a URL or a path.
	return strings.TrimSpace(b.String()), nil
}
