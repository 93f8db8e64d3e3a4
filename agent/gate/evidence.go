package gate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/analysis/prometheus"
	"github.com/ferry-dev/ferry/internal/httpx"
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
}

// trivyResult is what one candidate's scans came to: the image scan (the
// one every source gives) and, from referrers, the file-system scan.
type trivyResult struct {
	image, fs           *trivy.Report
	imageWhere, fsWhere string
	notes               []string
}

type sonarResult struct {
	gate *sonar.Gate
	note string
}

// NewCache is an empty per-pass cache over the gate's registry.
func (g *Gate) NewCache() *Cache { return NewCache(g.opts.Images) }

// NewCache is an empty per-pass cache.
func NewCache(images Images) *Cache {
	return &Cache{images: images, tags: map[string]string{}, info: map[string]registry.ImageInfo{},
		trivy: map[string]trivyResult{}, sonar: map[string]sonarResult{}}
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

// trivySource is input.evidence.trivy: the candidate's scan report.
type trivySource struct{ g *Gate }

func (s trivySource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	cfg := req.App.Evidence.Trivy
	if cfg == nil {
		return nil
	}
	res, ok := req.Cache.trivy[req.Candidate.Digest]
	if !ok {
		var err error
		if res, err = s.read(ctx, req, cfg); err != nil {
			return err
		}
		req.Cache.trivy[req.Candidate.Digest] = res
	}
	d.Notes = append(d.Notes, res.notes...)
	if doc := trivyInput(res); doc != nil {
		out["trivy"] = doc
	}
	for _, r := range []struct {
		report *trivy.Report
		label  string
	}{{res.image, res.imageWhere}, {res.fs, res.fsWhere}} {
		if r.report != nil {
			sum := r.report.Summary
			d.Evidence = append(d.Evidence, fmt.Sprintf("trivy %s: CRITICAL=%d HIGH=%d MEDIUM=%d LOW=%d", r.label, sum["CRITICAL"], sum["HIGH"], sum["MEDIUM"], sum["LOW"]))
		}
	}
	return nil
}

// trivyInput is input.evidence.trivy: its summary, fixable, findings and
// source are the image scan's, as they were before scans had kinds, so
// policies written then keep judging the image; image and fs hold each
// scan whole. nil when there is no scan at all. Without an image scan the
// top-level fields are absent, so a rule that needs the image's scan
// fails closed even when the source tree was scanned.
func trivyInput(res trivyResult) map[string]any {
	if res.image == nil && res.fs == nil {
		return nil
	}
	doc := map[string]any{}
	if r := res.image; r != nil {
		doc["summary"], doc["fixable"], doc["findings"], doc["source"] = r.Summary, r.Fixable, r.Findings, r.Source
		doc[KindImage] = r
	}
	if res.fs != nil {
		doc[KindFS] = res.fs
	}
	return doc
}

func (s trivySource) read(ctx context.Context, req *Request, cfg *config.TrivyEvidence) (trivyResult, error) {
	app, v := req.App, req.Candidate
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
		data, err = trivy.Fetch(ctx, s.g.opts.HTTP, url, limit)
		if errors.Is(err, trivy.ErrNotFound) {
			// Not uploaded (yet): absent, as a missing referrer or file is.
			return trivyResult{notes: []string{fmt.Sprintf("no Trivy report at %s (%v)", httpx.RedactURL(url), err)}}, nil
		}
		if err != nil {
			return trivyResult{}, fmt.Errorf("trivy report of %s %s: %w", app.Name, v, err)
		}
		where = "url"
	case config.TrivyFromFile:
		p, err := Expand("trivy file", cfg.File, vars)
		if err != nil {
			return trivyResult{}, err
		}
		data, err = req.State.Snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return trivyResult{notes: []string{fmt.Sprintf("no Trivy report at %s in the fleet repo", p)}}, nil
		}
		if err != nil {
			return trivyResult{}, err
		}
		where = "file " + p
	default:
		return s.referrers(ctx, req, limit)
	}
	// A report that does not parse is an error, not absent evidence: it
	// needs a person, and must not pass for a scan that was never made.
	report, err := trivy.Parse(data)
	if err != nil {
		return trivyResult{}, fmt.Errorf("trivy report of %s %s (%s): %w", app.Name, v, where, err)
	}
	return trivyResult{image: &report, imageWhere: where}, nil
}

// referrers reads the newest attached report of each kind: the image scan
// (a report without a kind is one) and the file-system scan.
func (s trivySource) referrers(ctx context.Context, req *Request, limit int64) (trivyResult, error) {
	app, v := req.App, req.Candidate
	if req.Cache.images == nil {
		return trivyResult{notes: []string{"no registry to read Trivy referrers from"}}, nil
	}
	arts, err := req.Cache.images.Referrers(ctx, app.Image, v.Digest, []string{TrivyReportType, SARIFReportType}, limit, app.Insecure)
	if err != nil {
		return trivyResult{}, fmt.Errorf("trivy referrers of %s@%s: %w", app.Image, v.Digest, err)
	}
	var res trivyResult
	chosen := map[string]time.Time{} // created of the scan taken, per kind
	for _, a := range arts {         // newest first: the first of each kind wins
		kind := ScanKind(a.Annotations)
		var parsed *trivy.Report
		if a.Annotations[KindAnnotation] == "" {
			// Attached by another tool (oras, cosign) without ferry's kind:
			// a report that says it scanned a source tree is the fs scan,
			// never a stand-in for a missing image scan.
			r, err := trivy.Parse(a.Data)
			if err != nil {
				return trivyResult{}, fmt.Errorf("trivy report of %s %s (referrer %s): %w", app.Name, v, a.Digest, err)
			}
			if r.Scanned.Type == "filesystem" || r.Scanned.Type == "repository" {
				kind = KindFS
			}
			parsed = &r
		}
		var dst **trivy.Report
		var where *string
		switch kind {
		case KindImage:
			dst, where = &res.image, &res.imageWhere
		case KindFS:
			dst, where = &res.fs, &res.fsWhere
		default:
			continue // another tool's kind: not a scan ferry knows how to weigh
		}
		// An older scan loses; one as new (scans attached in the same
		// second by a tool that dates to the second) is weighed: the worse
		// of the two counts, so a tie never hides a finding.
		if *dst != nil && !a.Created.Equal(chosen[kind]) {
			continue
		}
		report := parsed
		if report == nil {
			r, err := trivy.Parse(a.Data)
			if err != nil {
				return trivyResult{}, fmt.Errorf("trivy report of %s %s (%s referrer %s): %w", app.Name, v, kind, a.Digest, err)
			}
			report = &r
		}
		if *dst != nil && !worse(*report, **dst) {
			continue
		}
		chosen[kind] = a.Created
		*dst = report
		*where = "referrer " + a.Digest
		if kind == KindFS {
			*where = "fs referrer " + a.Digest
		}
	}
	short := ledger.ShortDigest(v.Digest)
	switch {
	case res.image == nil && res.fs == nil:
		res.notes = append(res.notes, fmt.Sprintf("no Trivy report is attached to %s@%s", app.Image, short))
	case res.image == nil:
		res.notes = append(res.notes, fmt.Sprintf("no Trivy image scan is attached to %s@%s (only a file-system scan)", app.Image, short))
	}
	return res, nil
}

// worse says whether a has more findings than b at the most severe level
// where they differ.
func worse(a, b trivy.Report) bool {
	for _, sev := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"} {
		if a.Summary[sev] != b.Summary[sev] {
			return a.Summary[sev] > b.Summary[sev]
		}
	}
	return false
}

// sonarSource is input.evidence.sonar: the quality gate of the analysis of
// the image's source revision.
type sonarSource struct{ g *Gate }

func (s sonarSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	client := s.g.opts.Sonar[req.App.Name]
	if client == nil {
		return nil
	}
	res, ok := req.Cache.sonar[req.Candidate.Digest]
	if !ok {
		var err error
		if res, err = s.read(ctx, req, client); err != nil {
			return err
		}
		req.Cache.sonar[req.Candidate.Digest] = res
	}
	if res.gate == nil {
		d.Notes = append(d.Notes, res.note)
		return nil
	}
	out["sonar"] = res.gate
	line := fmt.Sprintf("sonar %s analysis %s: %s", req.App.Evidence.Sonar.ProjectKey, res.gate.AnalysisID, res.gate.Status)
	if res.gate.TaskID != "" {
		line = fmt.Sprintf("sonar %s analysis %s (task %s): %s", req.App.Evidence.Sonar.ProjectKey, res.gate.AnalysisID, res.gate.TaskID, res.gate.Status)
	}
	d.Evidence = append(d.Evidence, line)
	return nil
}

// read finds the candidate's analysis: the one a report-task.txt attached
// to the image names, else the newest of the image's source revision.
func (s sonarSource) read(ctx context.Context, req *Request, client QualityGates) (sonarResult, error) {
	if tg, ok := client.(TaskGates); ok && req.Cache.images != nil && req.Candidate.Digest != "" {
		res, found, err := readSonarTask(ctx, req, tg)
		if err != nil || found {
			return res, err
		}
	}
	info, err := req.Cache.inspect(ctx, req.App, req.Candidate.Digest)
	if err != nil {
		return sonarResult{}, err
	}
	return readSonar(ctx, client, req.App, info.Revision), nil
}

// readSonarTask reads the gate of the analysis the newest report-task.txt
// attached to the candidate names. found is false when none is attached.
func readSonarTask(ctx context.Context, req *Request, client TaskGates) (res sonarResult, found bool, err error) {
	app, v := req.App, req.Candidate
	cfg := app.Evidence.Sonar
	timeout := cfg.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	arts, err := req.Cache.images.Referrers(ctx, app.Image, v.Digest, []string{SonarReportTaskType}, sonar.MaxReportTaskBytes, app.Insecure)
	if err != nil {
		return sonarResult{}, false, fmt.Errorf("sonar report-task referrers of %s@%s: %w", app.Image, v.Digest, err)
	}
	if len(arts) == 0 {
		return sonarResult{}, false, nil
	}
	rt, err := sonar.ParseReportTask(arts[0].Data)
	if err != nil {
		return sonarResult{}, true, fmt.Errorf("sonar report-task of %s %s (referrer %s): %w", app.Name, v, arts[0].Digest, err)
	}
	// The attached file chooses the analysis, never the server or the
	// project: the token goes only to the configured server, and a task of
	// another project does not stand for this one.
	if rt.ProjectKey != cfg.ProjectKey {
		return sonarResult{note: fmt.Sprintf("the SonarQube report task attached to %s (referrer %s) is of project %q, not %q: no quality gate for this image",
			v, ledger.ShortDigest(arts[0].Digest), rt.ProjectKey, cfg.ProjectKey)}, true, nil
	}
	gate, err := client.TaskGate(ctx, cfg.ProjectKey, rt.CETaskID)
	switch {
	case errors.Is(err, sonar.ErrTaskPending):
		return sonarResult{note: fmt.Sprintf("SonarQube is still processing task %s of %s: no quality gate yet", rt.CETaskID, cfg.ProjectKey)}, true, nil
	case errors.Is(err, sonar.ErrNoAnalysis):
		return sonarResult{note: fmt.Sprintf("SonarQube task %s gave no analysis: %v", rt.CETaskID, err)}, true, nil
	case err != nil:
		return sonarResult{note: fmt.Sprintf("SonarQube quality gate unavailable: %v", err)}, true, nil
	}
	return sonarResult{gate: &gate}, true, nil
}

func readSonar(ctx context.Context, client QualityGates, app *config.App, revision string) sonarResult {
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
