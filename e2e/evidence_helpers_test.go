//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/policies"
)

const (
	revisionKey     = "org.opencontainers.image.revision"
	trivyReportType = "application/vnd.aquasec.trivy.report+json"
)

// pushRevision writes a new random OCI image under repo:tag whose manifest
// annotation and config label org.opencontainers.image.revision are revision,
// as docker buildx and ko write them, and returns its digest.
func (r *distRegistry) pushRevision(t testing.TB, repo, tag, revision string) string {
	t.Helper()
	layer, err := random.Layer(256, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Config.Labels = map[string]string{revisionKey: revision}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{revisionKey: revision}).(v1.Image)
	ref, err := name.NewTag(r.host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// attach pushes data as an OCI referrer of repo@subject with ferry's own
// client (distribution 2.8 has no referrers API: the sha256-<hex> tag
// schema is used) and returns the referrer's digest.
func (r *distRegistry) attach(t testing.TB, repo, subject, artifactType string, data []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := registry.NewClient(registry.Options{}).Attach(ctx, r.host+"/"+repo, subject, artifactType, data, nil, false)
	if err != nil {
		t.Fatalf("attach %s to %s@%s: %v", artifactType, repo, subject, err)
	}
	return d
}

// vuln is one finding of a Trivy report.
type vuln struct{ id, pkg, severity, installed, fixed string }

// trivyReport renders a `trivy image -f json` report (SchemaVersion 2) of
// artifact listing vulns; no vulns is a clean scan.
func trivyReport(t testing.TB, artifact string, vulns ...vuln) []byte {
	t.Helper()
	type tv struct {
		VulnerabilityID  string
		PkgName          string
		InstalledVersion string
		FixedVersion     string `json:",omitempty"`
		Severity         string
		Title            string
	}
	res := map[string]any{"Target": artifact + " (alpine 3.20.3)", "Class": "os-pkgs", "Type": "alpine"}
	if len(vulns) > 0 {
		list := make([]tv, 0, len(vulns))
		for _, v := range vulns {
			list = append(list, tv{v.id, v.pkg, v.installed, v.fixed, v.severity, v.pkg + ": " + strings.ToLower(v.severity) + " issue"})
		}
		res["Vulnerabilities"] = list
	}
	doc := map[string]any{
		"SchemaVersion": 2,
		"CreatedAt":     "2026-11-25T17:10:44.018266Z",
		"ArtifactName":  artifact,
		"ArtifactType":  "container_image",
		"Metadata":      map[string]any{"OS": map[string]any{"Family": "alpine", "Name": "3.20.3"}},
		"Results":       []any{res},
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sonarStandIn stands in for SonarQube, which cannot run here: it serves
// api/project_analyses/search and api/qualitygates/project_status with the
// documented response shapes, the gate bodies being the recorded answers in
// agent/evidence/sonar/testdata. Each revision analysed has one analysis
// whose gate passed (OK) or failed (ERROR). Like SonarQube, it answers a
// wrong or missing token with an empty 401.
type sonarStandIn struct {
	url     string
	project string
	token   string
	ok      []byte // recorded project_status bodies
	failed  []byte

	mu       sync.Mutex
	analyses []sonarAnalysis // newest first, as SonarQube sorts them
	refused  int             // requests with a bad token
}

type sonarAnalysis struct {
	key, revision, date string
	task                string
	passed              bool
}

func startSonar(t testing.TB, project, token string) *sonarStandIn {
	t.Helper()
	dir := filepath.Join("..", "agent", "evidence", "sonar", "testdata", "project_status")
	read := func(f string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s := &sonarStandIn{project: project, token: token,
		ok: read("analysis-AZ514b4e9f8d17ad5e10.json"), failed: read("analysis-AZda04c8e887ecdb5bb7.json")}
	srv := httptest.NewServer(s) // 127.0.0.1
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// analyse records a new analysis of revision whose quality gate passed or
// failed, and returns the Compute Engine task that produced it (the
// ceTaskId of the scanner's report-task.txt).
func (s *sonarStandIn) analyse(revision string, passed bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := sonarAnalysis{
		key:      fmt.Sprintf("AZe2e%015d", len(s.analyses)+1),
		task:     fmt.Sprintf("AZtask%014d", len(s.analyses)+1),
		revision: revision,
		date:     time.Date(2026, 11, 25, 17, len(s.analyses), 0, 0, time.UTC).Format("2006-01-02T15:04:05-0700"),
		passed:   passed,
	}
	s.analyses = append([]sonarAnalysis{a}, s.analyses...)
	return a.task
}

func (s *sonarStandIn) refusedRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *sonarStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		s.refused++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet {
		sonarError(w, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/project_analyses/search":
		if q.Get("project") != s.project {
			sonarError(w, http.StatusNotFound, fmt.Sprintf("Project '%s' not found", q.Get("project")))
			return
		}
		ps, p := atoiOr(q.Get("ps"), 100), atoiOr(q.Get("p"), 1)
		if ps < 1 || p < 1 {
			sonarError(w, http.StatusBadRequest, "bad paging")
			return
		}
		type analysis struct {
			Key      string `json:"key"`
			Date     string `json:"date"`
			Revision string `json:"revision"`
			Events   []any  `json:"events"`
		}
		page := []analysis{}
		for i := (p - 1) * ps; i < len(s.analyses) && i < p*ps; i++ {
			a := s.analyses[i]
			page = append(page, analysis{Key: a.key, Date: a.date, Revision: a.revision, Events: []any{}})
		}
		writeJSON(w, map[string]any{
			"paging":   map[string]int{"pageIndex": p, "pageSize": ps, "total": len(s.analyses)},
			"analyses": page,
		})
	case "/api/qualitygates/project_status":
		id := q.Get("analysisId")
		for _, a := range s.analyses {
			if a.key == id {
				w.Header().Set("Content-Type", "application/json")
				if a.passed {
					_, _ = w.Write(s.ok)
				} else {
					_, _ = w.Write(s.failed)
				}
				return
			}
		}
		sonarError(w, http.StatusNotFound, fmt.Sprintf("Analysis with id '%s' is not found", id))
	case "/api/ce/task":
		// The shape of SonarQube's documented api/ce/task answer (see
		// agent/evidence/sonar/testdata/ce_task).
		id := q.Get("id")
		for _, a := range s.analyses {
			if a.task == id {
				writeJSON(w, map[string]any{"task": map[string]any{
					"id": a.task, "type": "REPORT", "componentKey": s.project, "componentName": s.project,
					"componentQualifier": "TRK", "analysisId": a.key, "status": "SUCCESS",
					"submittedAt": a.date, "executedAt": a.date, "warningCount": 0, "warnings": []any{},
				}})
				return
			}
		}
		sonarError(w, http.StatusNotFound, fmt.Sprintf("No activity found for task '%s'", id))
	default:
		sonarError(w, http.StatusNotFound, "Unknown url : "+r.URL.Path)
	}
}

func sonarError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"msg": msg}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func atoiOr(s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// startGatedFleet is startFleet with the default policies under policies/.
func startGatedFleet(t testing.TB, regHost, cfg string) *fleetRepo {
	t.Helper()
	root := t.TempDir()
	srv, err := gitserver.Start(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	f := &fleetRepo{srv: srv, bare: bare, url: srv.RepoURL("fleet.git")}
	files := exampleFiles(t, regHost)
	files["ferry.yaml"] = []byte(f.expand(cfg, regHost))
	for p, data := range policies.DefaultFiles() {
		files["policies/"+p] = data
	}
	if err := gitserver.Seed(bare, files, "seed the fleet with the default policies"); err != nil {
		t.Fatal(err)
	}
	return f
}

// runFerryIn runs ferry in dir and returns its stdout and stderr apart, for
// commands whose stdout is a document.
func runFerryIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, args...)
	cmd.Dir = dir
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("ferry %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errOut.String(), code
}

// planStep is one step of `ferry plan -o json`, as the plan contract spells it.
type planStep struct {
	App       string `json:"app"`
	Env       string `json:"env"`
	Action    string `json:"action"`
	Reason    string `json:"reason"`
	Candidate struct {
		Tag    string `json:"tag"`
		Digest string `json:"digest"`
	} `json:"candidate"`
	Decision *struct {
		Allow    bool     `json:"allow"`
		Deny     []string `json:"deny"`
		Warn     []string `json:"warn"`
		Policy   string   `json:"policy"`
		Evidence []string `json:"evidence"`
		Notes    []string `json:"notes"`
	} `json:"decision"`
}

// planJSON runs `ferry plan -o json` on the fleet repo and returns the step
// of app in env.
func planJSON(t *testing.T, fleet *fleetRepo, app, env string) planStep {
	t.Helper()
	out, errOut, code := runFerryIn(t, "", "plan", "-o", "json", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan -o json exited %d:\n%s%s", code, out, errOut)
	}
	var plan struct {
		Steps []planStep `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("ferry plan -o json: %v\n%s", err, out)
	}
	for _, s := range plan.Steps {
		if s.App == app && s.Env == env {
			return s
		}
	}
	t.Fatalf("ferry plan -o json has no step for %s in %s:\n%s", app, env, out)
	return planStep{}
}

// containsAny reports whether one of list contains sub.
func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// gitAdd stages paths in a clone, for humanCommit edits that add files
// (its commit -a stages only tracked ones).
func gitAdd(t testing.TB, dir string, paths ...string) {
	t.Helper()
	if _, err := gitserver.Git(context.Background(), dir, append([]string{"add", "--"}, paths...)...); err != nil {
		t.Fatal(err)
	}
}

// runOnce runs one reconcile pass over the fleet repo, which must finish.
func runOnce(t *testing.T, fleet *fleetRepo) string {
	t.Helper()
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry run --once exited %d:\n%s", code, out)
	}
	return out
}

// wantPromotions checks every promotion commit, oldest first.
func wantPromotions(t *testing.T, fleet *fleetRepo, want ...string) {
	t.Helper()
	if got := fleet.promotions(t); !slices.Equal(got, want) {
		t.Fatalf("promotions:\n got %q\nwant %q", got, want)
	}
}

// prodInput is a prod policy input that every default prod rule allows,
// except the one on HIGH/CRITICAL vulnerabilities when finding has a fix.
func prodInput(finding vuln) string {
	return `{
  "app": {"name": "checkout", "image": "registry.example/shop/checkout"},
  "environment": {"name": "prod", "tier": "production", "from": "ppd", "from_verifies": false, "soak_seconds": 3600},
  "candidate": {"version": "1.4.2", "tag": "1.4.2", "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
  "current": {"version": "1.4.1", "digest": "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"},
  "evidence": {
    "trivy": {"summary": {"CRITICAL": 0, "HIGH": 1, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 0},
              "findings": [{"id": "` + finding.id + `", "package": "` + finding.pkg + `", "severity": "` + finding.severity +
		`", "installed": "` + finding.installed + `", "fixed": "` + finding.fixed + `"}]},
    "sonar": {"status": "OK", "analysisId": "AZ514b4e9f8d17ad5e10", "conditions": []},
    "soak": {"env": "ppd", "seconds": 7200}
  },
  "time": "2026-11-25T18:00:00Z"
}
`
}
