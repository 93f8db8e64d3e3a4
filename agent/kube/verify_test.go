package kube

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
)

const (
	commit = "0123456789abcdef0123456789abcdef01234567"
	image  = "registry.example/shop/checkout"
)

// overlay is what kustomize build of an env's overlay gives for checkout.
func overlay(ns, tag string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec:
      containers: [{name: app, image: "%s:%s"}]
`, ns, replicas, image, tag)
}

func fluxKustomization(ns, revision string, ready bool) string {
	return fmt.Sprintf(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %s, namespace: flux-system}
spec: {interval: 1m, prune: true, path: ./overlays/prod, sourceRef: {kind: GitRepository, name: fleet}}
`, ns) + "# " + revision + fmt.Sprint(ready)
}

// fluxStatus is what kustomize-controller writes after applying revision.
func fluxStatus(revision string, ready bool) func(u *unstructured.Unstructured) map[string]any {
	return func(u *unstructured.Unstructured) map[string]any {
		cond := map[string]any{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
			"message": "Applied revision: " + revision, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
		if !ready {
			cond["status"], cond["reason"], cond["message"] = "False", "HealthCheckFailed", "timeout waiting for: [Deployment/shop/checkout status: 'InProgress']"
		}
		return map[string]any{"observedGeneration": u.GetGeneration(), "lastAppliedRevision": revision,
			"lastAttemptedRevision": revision, "conditions": []any{cond}}
	}
}

// fluxStalled is what kustomize-controller writes when an attempt cannot
// succeed without a change (a build error): Ready=False and Stalled=True,
// the failed revision attempted, an older one still applied.
func fluxStalled(attempted, applied string) func(u *unstructured.Unstructured) map[string]any {
	return func(u *unstructured.Unstructured) map[string]any {
		now := time.Now().UTC().Format(time.RFC3339)
		msg := "kustomize build failed: accumulating resources: 'checkout.yaml': no such file"
		return map[string]any{"observedGeneration": u.GetGeneration(), "lastAppliedRevision": applied,
			"lastAttemptedRevision": attempted, "conditions": []any{
				map[string]any{"type": "Ready", "status": "False", "reason": "BuildFailed", "message": msg, "lastTransitionTime": now},
				map[string]any{"type": "Stalled", "status": "True", "reason": "BuildFailed", "message": msg, "lastTransitionTime": now},
			}}
	}
}

func argoStatus(revision, health string) func(u *unstructured.Unstructured) map[string]any {
	return func(*unstructured.Unstructured) map[string]any {
		return map[string]any{"sync": map[string]any{"status": "Synced", "revision": revision},
			"health": map[string]any{"status": health}}
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerify plays the controllers of a real API server: the verdict is
// Successful when the status says the commit runs, Failed on timeout with
// the reason naming what was not ready.
func TestVerify(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.Apply(t, readFile(t, "../../e2e/testdata/flux-kustomization-crd.yaml"))
	c.Apply(t, readFile(t, "../../e2e/testdata/argocd-application-crd.yaml"))
	other := "fedcba9876543210fedcba9876543210fedcba98"
	type setup func(t *testing.T, ns string)
	deploy := func(tag string, replicas int, updated int64) setup {
		return func(t *testing.T, ns string) {
			c.Apply(t, []byte(overlay(ns, tag, replicas)))
			c.SetStatus(t, kubetest.Deployments, ns, "checkout", kubetest.DeploymentRollout(updated))
		}
	}
	flux := func(revision string, ready bool) setup {
		return func(t *testing.T, ns string) {
			c.Apply(t, []byte(fluxKustomization(ns, revision, ready)))
			c.SetStatus(t, FluxKustomizations, "flux-system", ns, fluxStatus(revision, ready))
		}
	}
	argo := func(revision, health string) setup {
		return func(t *testing.T, ns string) {
			c.Apply(t, []byte(fmt.Sprintf("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: %s, namespace: argocd}\nspec: {project: default}\n", ns)))
			c.SetStatus(t, ArgoApplications, "argocd", ns, argoStatus(revision, health))
		}
	}
	tests := []struct {
		name     string
		setup    []setup
		flux     bool
		argo     bool
		ancestry bool
		want     analysis.Verdict
		reason   string
	}{
		{name: "rolled out", setup: []setup{deploy("1.2.0", 3, 3)}, want: analysis.Successful, reason: "Deployment %s/checkout ready"},
		{name: "rolling out", setup: []setup{deploy("1.2.0", 3, 1)}, want: analysis.Failed, reason: "Deployment %s/checkout: 1 of 3 replicas updated"},
		{name: "old image", setup: []setup{deploy("1.1.0", 3, 3)}, want: analysis.Failed,
			reason: "Deployment %s/checkout: container app runs registry.example/shop/checkout:1.1.0, not registry.example/shop/checkout:1.2.0"},
		{name: "workload missing", want: analysis.Failed, reason: "Deployment %s/checkout: not found"},
		{name: "flux applied the commit", setup: []setup{deploy("1.2.0", 2, 2), flux("main@sha1:"+commit, true)}, flux: true,
			want: analysis.Successful, reason: "Flux Kustomization flux-system/%s ready"},
		{name: "flux applied another commit", setup: []setup{deploy("1.2.0", 2, 2), flux("main@sha1:"+other, true)}, flux: true,
			want: analysis.Failed, reason: "Flux Kustomization flux-system/%s: applied main@sha1:" + other + ", not 0123456789ab"},
		{name: "flux applied a later commit", setup: []setup{deploy("1.2.0", 2, 2), flux("main@sha1:"+other, true)}, flux: true, ancestry: true,
			want: analysis.Successful, reason: "Flux Kustomization flux-system/%s ready"},
		{name: "flux not ready", setup: []setup{deploy("1.2.0", 2, 2), flux("main@sha1:"+commit, false)}, flux: true,
			want: analysis.Failed, reason: "Flux Kustomization flux-system/%s: Ready=False (HealthCheckFailed"},
		{name: "argo synced and healthy", setup: []setup{deploy("1.2.0", 1, 1), argo(commit, "Healthy")}, argo: true,
			want: analysis.Successful, reason: "Argo CD Application argocd/%s ready"},
		{name: "argo degraded", setup: []setup{deploy("1.2.0", 1, 1), argo(commit, "Degraded")}, argo: true,
			want: analysis.Failed, reason: "Argo CD Application argocd/%s: health Degraded"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := fmt.Sprintf("shop-%d", i)
			c.EnsureNamespace(t, ns)
			for _, s := range tt.setup {
				s(t, ns)
			}
			o := Options{Images: map[string]string{"checkout": image}, Poll: 50 * time.Millisecond}
			if tt.ancestry {
				o.Ancestry = func(_ context.Context, c, rev string) (bool, error) { return c == commit && rev == other, nil }
			}
			check := Check{App: "checkout", Env: "prod", Commit: commit, Version: ledger.Version{Tag: "1.2.0"},
				Rendered: []byte(overlay(ns, "1.2.0", 3)), Cluster: config.Cluster{Kubeconfig: c.Kubeconfig}, Timeout: time.Second}
			if tt.flux {
				check.Verify.Flux = &config.FluxCheck{Kustomization: ns}
			}
			if tt.argo {
				check.Verify.ArgoCD = &config.ArgoCDCheck{Application: ns}
			}
			verdict, reason, err := NewVerifier(o).Verify(context.Background(), check)
			if err != nil {
				t.Fatal(err)
			}
			if verdict != tt.want || !strings.Contains(reason, fmt.Sprintf(tt.reason, ns)) {
				t.Errorf("Verify = %s %q, want %s with %q", verdict, reason, tt.want, fmt.Sprintf(tt.reason, ns))
			}
		})
	}

	t.Run("rollout completes while waiting", func(t *testing.T) {
		ns := "shop-late"
		deploy("1.1.0", 2, 2)(t, ns)
		check := Check{App: "checkout", Env: "prod", Commit: commit, Version: ledger.Version{Tag: "1.2.0"},
			Rendered: []byte(overlay(ns, "1.2.0", 2)), Cluster: config.Cluster{Kubeconfig: c.Kubeconfig}, Timeout: 2 * time.Minute}
		type result struct {
			v      analysis.Verdict
			reason string
		}
		done := make(chan result, 1)
		go func() {
			v, reason, _ := NewVerifier(Options{Images: map[string]string{"checkout": image}, Poll: 50 * time.Millisecond}).Verify(context.Background(), check)
			done <- result{v, reason}
		}()
		// Flux applies the new image, then the deployment controller rolls it out.
		deploy("1.2.0", 2, 1)(t, ns)
		select {
		case r := <-done:
			t.Fatalf("Verify decided %s (%s) before the rollout completed", r.v, r.reason)
		default:
		}
		c.SetStatus(t, kubetest.Deployments, ns, "checkout", kubetest.DeploymentRollout(2))
		if r := <-done; r.v != analysis.Successful {
			t.Errorf("Verify = %s %q, want Successful", r.v, r.reason)
		}
	})

	// A Stalled Kustomization will not be retried until something changes:
	// its attempt of the commit fails the verdict at once, not at the
	// timeout (an hour here; the context only bounds a regression).
	t.Run("flux stalled on the commit fails at once", func(t *testing.T) {
		ns := "shop-stalled"
		c.EnsureNamespace(t, ns)
		deploy("1.1.0", 2, 2)(t, ns)
		c.Apply(t, []byte(fluxKustomization(ns, "stalled", false)))
		c.SetStatus(t, FluxKustomizations, "flux-system", ns, fluxStalled("main@sha1:"+commit, "main@sha1:"+other))
		check := Check{App: "checkout", Env: "prod", Commit: commit, Version: ledger.Version{Tag: "1.2.0"},
			Rendered: []byte(overlay(ns, "1.2.0", 2)), Cluster: config.Cluster{Kubeconfig: c.Kubeconfig}, Timeout: time.Hour,
			Verify: config.Verify{Flux: &config.FluxCheck{Kustomization: ns}}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		verdict, reason, err := NewVerifier(Options{Images: map[string]string{"checkout": image}, Poll: 50 * time.Millisecond}).Verify(ctx, check)
		want := "Flux Kustomization flux-system/" + ns + ": Stalled (BuildFailed: kustomize build failed: accumulating resources"
		if err != nil || verdict != analysis.Failed || !strings.Contains(reason, want) {
			t.Errorf("Verify = %s %q %v, want Failed: %s", verdict, reason, err, want)
		}
	})
	// Stalled on an older revision: the commit has not been tried, so ferry
	// waits for it (and the timeout decides).
	t.Run("flux stalled on an older revision waits", func(t *testing.T) {
		ns := "shop-stalled-old"
		c.EnsureNamespace(t, ns)
		deploy("1.2.0", 2, 2)(t, ns)
		c.Apply(t, []byte(fluxKustomization(ns, "stalled-old", false)))
		c.SetStatus(t, FluxKustomizations, "flux-system", ns, fluxStalled("main@sha1:"+other, "main@sha1:"+other))
		check := Check{App: "checkout", Env: "prod", Commit: commit, Version: ledger.Version{Tag: "1.2.0"},
			Rendered: []byte(overlay(ns, "1.2.0", 2)), Cluster: config.Cluster{Kubeconfig: c.Kubeconfig}, Timeout: time.Second,
			Verify: config.Verify{Flux: &config.FluxCheck{Kustomization: ns}}}
		verdict, reason, err := NewVerifier(Options{Images: map[string]string{"checkout": image}, Poll: 50 * time.Millisecond}).Verify(context.Background(), check)
		want := "prod not ready after 1s: Flux Kustomization flux-system/" + ns + ": Stalled (BuildFailed: kustomize build failed"
		if err != nil || verdict != analysis.Failed || !strings.Contains(reason, want) || !strings.Contains(reason, "0123456789ab not attempted yet") {
			t.Errorf("Verify = %s %q %v, want Failed after the timeout: %s ... 0123456789ab not attempted yet", verdict, reason, err, want)
		}
	})

	t.Run("progress deadline exceeded fails at once", func(t *testing.T) {
		ns := "shop-stuck"
		c.Apply(t, []byte(overlay(ns, "1.2.0", 2)))
		c.SetStatus(t, kubetest.Deployments, ns, "checkout", func(u *unstructured.Unstructured) map[string]any {
			return map[string]any{"observedGeneration": u.GetGeneration(), "replicas": 2, "updatedReplicas": 1,
				"conditions": []any{map[string]any{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
					"message": `ReplicaSet "checkout-5d9" has timed out progressing.`}}}
		})
		check := Check{App: "checkout", Env: "prod", Commit: commit, Version: ledger.Version{Tag: "1.2.0"},
			Rendered: []byte(overlay(ns, "1.2.0", 2)), Cluster: config.Cluster{Kubeconfig: c.Kubeconfig}, Timeout: time.Hour}
		verdict, reason, err := NewVerifier(Options{Images: map[string]string{"checkout": image}}).Verify(context.Background(), check)
		if err != nil || verdict != analysis.Failed || !strings.Contains(reason, "Progress deadline exceeded") {
			t.Errorf("Verify = %s %q %v, want Failed: Progress deadline exceeded", verdict, reason, err)
		}
	})
}
