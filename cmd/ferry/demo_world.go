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
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	promnotifier "github.com/prometheus/prometheus/notifier"
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
