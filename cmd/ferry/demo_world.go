package main

// The demo's world: everything ferry talks to, in-process on 127.0.0.1 — a
// registry, a SonarQube answering from recorded responses, a forge keeping
// pull requests in memory (their bodies also written to files), a workload
// that runs what the fleet repo's overlays say, and the bridge that carries
// the rule manager's alerts to ferry's Alertmanager webhook.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/alertmanager/template"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	promnotifier "github.com/prometheus/prometheus/notifier"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/overlays"
)

// serveLocal serves h on a free 127.0.0.1 port until the returned stop.
func serveLocal(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// pushDemoImage pushes a small random image whose config carries the
// source revision label, as a CI build would; SonarQube's analysis is
// found by that revision. The image is pushed by digest, then before (its
// evidence, when not nil) runs, then the tag is pushed: ferry sees the tag
// with its evidence in place, and the timeline says so before ferry acts.
func pushDemoImage(ctx context.Context, repo, tag, revision string, before func(digest string) error) (string, error) {
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.Config.Labels = map[string]string{"org.opencontainers.image.revision": revision}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	byDigest, err := name.NewDigest(repo + "@" + d.String())
	if err != nil {
		return "", err
	}
	if err := remote.Write(byDigest, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", byDigest, err)
	}
	if before != nil {
		if err := before(d.String()); err != nil {
			return "", err
		}
	}
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return "", err
	}
	if err := remote.Tag(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	return d.String(), nil
}

// demoSonar answers SonarQube's Web API (api/project_analyses/search and
// api/qualitygates/project_status) in its documented shape, for the
// revisions the demo built: each analysis's gate is OK unless failed.
type demoSonar struct {
	mu       sync.Mutex
	analyses []sonarAnalysis // newest first
}

type sonarAnalysis struct{ key, revision, date, status string }

func (s *demoSonar) analyse(revision string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status := "OK"
	if !ok {
		status = "ERROR"
	}
	a := sonarAnalysis{key: fmt.Sprintf("AZdemo%04d", len(s.analyses)+1), revision: revision,
		date: time.Now().UTC().Format("2006-01-02T15:04:05+0000"), status: status}
	s.analyses = append([]sonarAnalysis{a}, s.analyses...)
}

func (s *demoSonar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/project_analyses/search":
		var out []map[string]any
		for _, a := range s.analyses {
			out = append(out, map[string]any{"key": a.key, "date": a.date, "revision": a.revision,
				"projectVersion": "", "manualNewCodePeriodBaseline": false, "events": []any{}})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"paging":   map[string]int{"pageIndex": 1, "pageSize": 100, "total": len(out)},
			"analyses": out,
		})
	case "/api/qualitygates/project_status":
		for _, a := range s.analyses {
			if a.key != r.URL.Query().Get("analysisId") {
				continue
			}
			cov, status := "83.7", "OK"
			if a.status != "OK" {
				cov, status = "61.2", "ERROR"
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"projectStatus": map[string]any{
				"status": a.status, "ignoredConditions": false, "caycStatus": "compliant",
				"conditions": []map[string]string{
					{"status": status, "metricKey": "new_coverage", "comparator": "LT", "errorThreshold": "80", "actualValue": cov},
					{"status": "OK", "metricKey": "new_violations", "comparator": "GT", "errorThreshold": "0", "actualValue": "0"},
				},
			}})
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"msg": "Analysis not found"}}})
	default:
		http.NotFound(w, r)
	}
}

// demoForge keeps pull requests in memory, as a forge would, and writes
// each body (the gate report) to pulls/N.md. Merging one is a person's
// approval: a merge commit of its branch on main, pushed from a clone of
// the forge's own.
type demoForge struct {
	dir   string
	repo  *fleet.Repo
	mu    sync.Mutex
	pulls []pullrequest.PR
	// opened sees every pull request opened or updated.
	opened func(pullrequest.PR)
}

func (f *demoForge) Find(_ context.Context, head string) ([]pullrequest.PR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []pullrequest.PR
	for _, pr := range f.pulls {
		if pr.Head == head {
			out = append(out, pr)
		}
	}
	return out, nil
}

func (f *demoForge) Open(_ context.Context, head, base, title, body string) (pullrequest.PR, error) {
	f.mu.Lock()
	n := len(f.pulls) + 1
	pr := pullrequest.PR{Number: n, URL: filepath.Join(f.dir, fmt.Sprintf("%d.md", n)), Title: title, Body: body,
		Head: head, Base: base, State: pullrequest.StateOpen, UpdatedAt: time.Now()}
	f.pulls = append(f.pulls, pr)
	f.mu.Unlock()
	return pr, f.wrote(pr)
}

func (f *demoForge) Update(_ context.Context, number int, title, body string) (pullrequest.PR, error) {
	f.mu.Lock()
	if number < 1 || number > len(f.pulls) {
		f.mu.Unlock()
		return pullrequest.PR{}, fmt.Errorf("pull request #%d: not found", number)
	}
	pr := &f.pulls[number-1]
	pr.Title, pr.Body, pr.UpdatedAt = title, body, time.Now()
	out := *pr
	f.mu.Unlock()
	return out, f.wrote(out)
}

func (f *demoForge) wrote(pr pullrequest.PR) error {
	if err := os.WriteFile(pr.URL, []byte("# "+pr.Title+"\n\n"+pr.Body), 0o600); err != nil {
		return fmt.Errorf("pull request #%d: %w", pr.Number, err)
	}
	if f.opened != nil {
		f.opened(pr)
	}
	return nil
}

// open returns the open pull request titled title, if any.
func (f *demoForge) open(title string) (pullrequest.PR, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pr := range f.pulls {
		if pr.Title == title && pr.State == pullrequest.StateOpen {
			return pr, true
		}
	}
	return pullrequest.PR{}, false
}

// merge merges pull request number with a merge commit on its base, as a
// reviewer pressing the forge's merge button.
func (f *demoForge) merge(ctx context.Context, number int) (string, error) {
	f.mu.Lock()
	pr := f.pulls[number-1]
	f.mu.Unlock()
	for attempt := 0; ; attempt++ {
		base, err := f.repo.Fetch(ctx)
		if err != nil {
			return "", err
		}
		head, err := f.repo.FetchBranch(ctx, pr.Head)
		if err != nil || head == nil {
			return "", fmt.Errorf("merge #%d: branch %s: %v", number, pr.Head, err)
		}
		// The merge takes the branch's change of its environment's overlay
		// (ferry/<env>/<app>) onto the base's head; the base's other files stay.
		parts := strings.Split(pr.Head, "/")
		if len(parts) != 3 {
			return "", fmt.Errorf("merge #%d: branch %s is not ferry/<env>/<app>", number, pr.Head)
		}
		p := "overlays/" + parts[1] + "/kustomization.yaml"
		data, err := head.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		files := map[string][]byte{p: data}
		msg := fmt.Sprintf("Merge pull request #%d from %s\n\n%s\n", number, pr.Head, pr.Title)
		commit, err := f.repo.CommitMerge(base, []*fleet.Snapshot{head}, files, msg, time.Now())
		if err != nil {
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		if err := f.repo.Push(ctx, commit); err != nil {
			if attempt < 5 {
				continue // ferry pushed meanwhile: merge again on its head
			}
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		f.mu.Lock()
		f.pulls[number-1].State, f.pulls[number-1].MergeCommit = pullrequest.StateMerged, commit.Hash()
		f.mu.Unlock()
		return commit.Hash(), nil
	}
}

// demoHealth is the error ratio each version serves, per environment: the
// demo's releases and the incident it stages.
type demoHealth struct {
	mu  sync.Mutex
	bad map[string]float64 // "env/version" or "*/version"
}

func (h *demoHealth) set(env, version string, ratio float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bad[env+"/"+version] = ratio
}

func (h *demoHealth) ratio(env, version string) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.bad[env+"/"+version]; ok {
		return r
	}
	if r, ok := h.bad["*/"+version]; ok {
		return r
	}
	return 0.002
}

// workload runs, per environment, what the fleet repo's main branch says
// (as Flux would apply it): checkout's stable Deployment, in prod also the
// canary with the route's share of the traffic. It serves 100 simulated
// requests a second per environment, counted in http_requests_total{app,
// env, version, track, code}, with the error ratio its health says.
type workload struct {
	bare    string
	health  *demoHealth
	reqs    *promclient.CounterVec
	mu      sync.Mutex
	running map[string]deployment // by env
}

type deployment struct {
	stable, canary string
	canaryWeight   int
}

func newWorkload(bare string, health *demoHealth) (*workload, http.Handler) {
	reg := promclient.NewRegistry()
	w := &workload{bare: bare, health: health, running: map[string]deployment{},
		reqs: promclient.NewCounterVec(promclient.CounterOpts{
			Name: "http_requests_total", Help: "Simulated requests by app, env, version, track and status code.",
		}, []string{"app", "env", "version", "track", "code"})}
	reg.MustRegister(w.reqs)
	return w, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

const demoEnvs = "dev qa ppd prod dr"

// run follows the fleet repo and serves traffic every 50 ms until ctx ends.
func (w *workload) run(ctx context.Context) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var seen plumbing.Hash
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if h, err := w.apply(seen); err == nil {
			seen = h
		}
		w.mu.Lock()
		for env, d := range w.running {
			w.serve(env, d.stable, "stable", 5*float64(100-d.canaryWeight)/100)
			if d.canaryWeight > 0 {
				w.serve(env, d.canary, "canary", 5*float64(d.canaryWeight)/100)
			}
		}
		w.mu.Unlock()
	}
}

func (w *workload) serve(env, version, track string, n float64) {
	bad := n * w.health.ratio(env, version)
	w.reqs.WithLabelValues("checkout", env, version, track, "200").Add(n - bad)
	w.reqs.WithLabelValues("checkout", env, version, track, "500").Add(bad)
}

// apply reads the overlays at main's head when it moved since seen.
func (w *workload) apply(seen plumbing.Hash) (plumbing.Hash, error) {
	repo, err := git.PlainOpen(w.bare)
	if err != nil {
		return seen, err
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil || ref.Hash() == seen {
		return seen, err
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return seen, err
	}
	running := map[string]deployment{}
	for _, env := range strings.Fields(demoEnvs) {
		data, err := fileAt(c, "overlays/"+env+"/kustomization.yaml")
		if err != nil {
			return seen, err
		}
		imgs, err := overlays.ReadImages(data)
		if err != nil {
			return seen, err
		}
		var d deployment
		for _, img := range imgs {
			switch img.Name {
			case "registry.example/shop/checkout":
				d.stable = img.NewTag
			case "registry.example/shop/checkout-canary":
				d.canary = img.NewTag
			}
		}
		if env == "prod" {
			route, err := fileAt(c, "overlays/prod/checkout-route.yaml")
			if err != nil {
				return seen, err
			}
			st, err := overlays.ReadRoute(route, overlays.RouteSpec{Name: "checkout", Stable: "checkout", Canary: "checkout-canary"})
			if err != nil {
				return seen, err
			}
			if total := st.StableWeight + st.CanaryWeight; total > 0 {
				d.canaryWeight = 100 * st.CanaryWeight / total
			}
		}
		running[env] = d
	}
	w.mu.Lock()
	w.running = running
	w.mu.Unlock()
	return ref.Hash(), nil
}

func fileAt(c *object.Commit, path string) ([]byte, error) {
	f, err := c.File(path)
	if err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, c.Hash, err)
	}
	s, err := f.Contents()
	return []byte(s), err
}

// alertBridge carries the rule manager's alerts to ferry's Alertmanager
// webhook in Alertmanager's webhook format (version 4), with the bearer
// token a real Alertmanager's http_config would send. It stands in for
// Alertmanager's routing only: the alerts are the rules manager's own.
type alertBridge struct {
	client     *http.Client
	mu         sync.Mutex
	url, token string            // set by target
	state      map[string]string // fingerprint -> status last told
	told       func(status string, labels map[string]string, code int, err error)
}

func (b *alertBridge) send(as []*promnotifier.Alert) {
	now := time.Now()
	for _, a := range as {
		ls := model.LabelSet{}
		lm := map[string]string{}
		for k, v := range a.Labels.Map() {
			ls[model.LabelName(k)] = model.LabelValue(v)
			lm[k] = v
		}
		status := "firing"
		if !a.EndsAt.IsZero() && !a.EndsAt.After(now) {
			status = "resolved"
		}
		fp := ls.Fingerprint().String()
		data := template.Data{
			Receiver: "ferry", Status: status,
			Alerts: template.Alerts{{Status: status, Labels: template.KV(lm), Annotations: template.KV(a.Annotations.Map()),
				StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: fp}},
			GroupLabels: template.KV{"alertname": lm["alertname"]}, CommonLabels: template.KV(lm),
			CommonAnnotations: template.KV(a.Annotations.Map()),
		}
		body, err := json.Marshal(struct {
			template.Data
			Version  string `json:"version"`
			GroupKey string `json:"groupKey"`
		}{data, "4", `{}:{alertname="` + lm["alertname"] + `"}`})
		if err != nil {
			continue
		}
		b.mu.Lock()
		url, token := b.url, b.token
		b.mu.Unlock()
		if url == "" {
			continue // ferry's webhooks are not up yet
		}
		code, err := b.post(url, token, body)
		b.mu.Lock()
		changed := b.state[fp] != status
		b.state[fp] = status
		b.mu.Unlock()
		if changed && b.told != nil {
			b.told(status, lm, code, err)
		}
	}
}

// target sets where alerts go, once ferry's webhooks listen.
func (b *alertBridge) target(url, token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.url, b.token = url, token
}

func (b *alertBridge) post(url, token string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, errors.New(resp.Status)
	}
	return resp.StatusCode, nil
}
