package agent

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
)

// vendorPipeline has one app per registry vendor, most with the same
// repository name, so only the host can tell them apart.
const vendorPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: hub, image: docker.io/shopteam/checkout, tags: {semver: ">=1.0.0"}}
  - {name: quay, image: quay.io/shopteam/checkout, tags: {semver: ">=1.0.0"}}
  - {name: ghcr, image: ghcr.io/shop-org/checkout, tags: {semver: ">=1.0.0"}}
  - {name: harbor, image: harbor.example.com/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: jfrog, image: acme.jfrog.io/docker-local/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cdevents, image: "registry.example.com:5000/shop/checkout", tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
`

// nexusPipeline: Nexus does not say which host serves its docker
// repository, so its app is found by repository alone, when only one app
// has it.
const nexusPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: nexus, image: "nexus.example.com:8082/shop/checkout", tags: {semver: ">=1.0.0"}}
  - {name: other, image: "nexus.example.com:8082/shop/cart", tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
`

// TestAppsForVendors: each vendor's documented payload, parsed by the
// webhook package, finds the app whose image it names, and only that one.
func TestAppsForVendors(t *testing.T) {
	tests := []struct {
		pipeline, vendor, file string
		header                 map[string]string
		want                   string
	}{
		{vendorPipeline, "", "dockerhub/push.json", nil, "hub"},
		{vendorPipeline, "", "quay/repo-push.json", nil, "quay"},
		{vendorPipeline, "", "ghcr/package-published.json", map[string]string{"X-GitHub-Event": "package"}, "ghcr"},
		{vendorPipeline, "", "harbor/push-artifact.json", nil, "harbor"},
		{vendorPipeline, "", "jfrog/docker-pushed.json", nil, "jfrog"},
		{vendorPipeline, "", "cloudevents/structured-artifact-published.json", map[string]string{"Content-Type": "application/cloudevents+json"}, "cdevents"},
		{vendorPipeline, "nexus", "nexus/component-created.json", nil, ""}, // shop/checkout is six apps' repository
		{nexusPipeline, "", "nexus/component-created.json", map[string]string{"X-Nexus-Webhook-Id": "rm:repository:component"}, "nexus"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p, err := config.Parse("ferry.yaml", []byte(tc.pipeline))
			if err != nil {
				t.Fatal(err)
			}
			a, err := New(Options{Config: p, Fleet: nilFleet{}, Registry: registry.NewClient(registry.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			body, err := os.ReadFile(filepath.Join("webhook", "testdata", "vendors", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			evs, err := webhook.ParseRegistry(tc.vendor, h, body)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(a.appsFor(evs), ","); got != tc.want {
				t.Fatalf("appsFor(%+v) = %q, want %q", evs, got, tc.want)
			}
		})
	}
}

// TestRegistryEventMatchingNoAppIsLogged: an event for no app's image (a
// registry host spelled differently from ferry.yaml's) is logged at Info,
// once per image with its host and repository, not dropped silently.
func TestRegistryEventMatchingNoAppIsLogged(t *testing.T) {
	p, err := config.Parse("ferry.yaml", []byte(nexusPipeline))
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	a, err := New(Options{Config: p, Fleet: nilFleet{}, Registry: registry.NewClient(registry.Options{}),
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoop(a, time.Hour)
	l.OnRegistryEvents(context.Background(), []webhook.RegistryEvent{
		{Host: "ghcr.io", Repository: "shop-org/checkout", Tag: "1.2.3"},
		{Host: "ghcr.io", Repository: "shop-org/checkout", Tag: "1.2.4"},
		{Host: "index.docker.io", Repository: "nope/other", Tag: "1"},
	})
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="registry notification matches no app" host=ghcr.io repository=shop-org/checkout`,
		`level=INFO msg="registry notification matches no app" host=index.docker.io repository=nope/other`,
	} {
		if strings.Count(out, want) != 1 {
			t.Errorf("want once %q in the log:\n%s", want, out)
		}
	}
	logs.Reset()
	l.OnRegistryEvents(context.Background(), []webhook.RegistryEvent{{Repository: "shop/cart", Tag: "1.0.1"}})
	if strings.Contains(logs.String(), "matches no app") {
		t.Errorf("a matching event is logged as matching none:\n%s", logs.String())
	}
}
