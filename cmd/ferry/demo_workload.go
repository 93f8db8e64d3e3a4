// The demo's workload: it runs what main's overlays say, as Flux would
// apply them, and serves requests whose error ratio depends on the version.

package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-dev/ferry/overlays"
)

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

// snapshot is what runs where, as the workload last applied it.
func (w *workload) snapshot() map[string]deployment {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]deployment, len(w.running))
	for k, v := range w.running {
		out[k] = v
	}
	return out
}
