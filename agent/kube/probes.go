package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"

	fluxmeta "github.com/fluxcd/pkg/apis/meta"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/internal/text"
)

// Flux's and Argo CD's resources, read with the dynamic client so ferry
// needs neither's Go module.
var (
	FluxKustomizations = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	ArgoApplications   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
)

// Default namespaces of the GitOps controllers.
const (
	DefaultFluxNamespace   = "flux-system"
	DefaultArgoCDNamespace = "argocd"
)

// workloadProbe is ready when the live workload's pod template runs the
// rendered images and kstatus says its rollout is current (observed
// generation, updated, ready and available replicas).
func workloadProbe(cl *clients, w Workload) probe {
	return probe{what: w.String(), read: func(ctx context.Context) (state, string) {
		u, err := cl.dynamic.Resource(w.GVR).Namespace(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		// Not found is waiting: the GitOps controller may not have applied
		// a new workload yet; the timeout turns a wait into Failed.
		if apierrors.IsNotFound(err) {
			return waiting, w.String() + ": not found"
		}
		if err != nil {
			return classify(w.String(), err)
		}
		// Images first: kstatus says Current for the previous rollout
		// until the controller applies the new spec.
		live, err := podImages(u.Object)
		if err != nil {
			return waiting, fmt.Sprintf("%s: %v", w, err)
		}
		for _, name := range sortedKeys(w.Images) {
			if got, want := live[name], w.Images[name]; got != want {
				return waiting, fmt.Sprintf("%s: container %s runs %s, not %s", w, name, cmpOr(got, "nothing"), want)
			}
		}
		res, err := status.Compute(u)
		if err != nil {
			return waiting, fmt.Sprintf("%s: status: %v", w, err)
		}
		switch res.Status {
		case status.CurrentStatus:
			return ready, ""
		case status.FailedStatus:
			return failed, fmt.Sprintf("%s: %s", w, res.Message)
		}
		return waiting, fmt.Sprintf("%s: %s", w, rolloutMessage(u, res.Message))
	}}
}

// rolloutMessage says in words how far an apps/v1 rollout got.
func rolloutMessage(u *unstructured.Unstructured, fallback string) string {
	gen, obs := u.GetGeneration(), nestedInt(u, "status", "observedGeneration")
	if obs < gen {
		return fmt.Sprintf("generation %d not observed yet (observed %d)", gen, obs)
	}
	want := nestedInt(u, "spec", "replicas")
	// apps/v1 defaults an absent replicas to 1.
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "replicas"); !found {
		want = 1
	}
	if u.GetKind() == "DaemonSet" {
		want = nestedInt(u, "status", "desiredNumberScheduled")
		if up := nestedInt(u, "status", "updatedNumberScheduled"); up < want {
			return fmt.Sprintf("%d of %d pods updated", up, want)
		}
		if av := nestedInt(u, "status", "numberAvailable"); av < want {
			return fmt.Sprintf("%d of %d pods available", av, want)
		}
		return fallback
	}
	if up := nestedInt(u, "status", "updatedReplicas"); up < want {
		return fmt.Sprintf("%d of %d replicas updated", up, want)
	}
	if rd := nestedInt(u, "status", "readyReplicas"); rd < want {
		return fmt.Sprintf("%d of %d replicas ready", rd, want)
	}
	if u.GetKind() == "Deployment" {
		if av := nestedInt(u, "status", "availableReplicas"); av < want {
			return fmt.Sprintf("%d of %d replicas available", av, want)
		}
	}
	return fallback
}

func nestedInt(u *unstructured.Unstructured, fields ...string) int64 {
	v, _, _ := unstructured.NestedFieldNoCopy(u.Object, fields...)
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// fluxProbe is ready when the Kustomization's lastAppliedRevision names the
// commit (or a later one that includes it) and its Ready condition is True
// for the current generation. It fails at once when kstatus says the
// Kustomization is Stalled (or otherwise Failed) on an attempt of the
// commit: Flux will not retry it until the source or spec changes, so
// waiting out the verify timeout would only delay the verdict.
func (v *Verifier) fluxProbe(cl *clients, f config.FluxCheck, commit string) probe {
	ns := cmpOr(f.Namespace, DefaultFluxNamespace)
	what := "Flux Kustomization " + ns + "/" + f.Kustomization
	return probe{what: what, read: func(ctx context.Context) (state, string) {
		u, err := cl.dynamic.Resource(FluxKustomizations).Namespace(ns).Get(ctx, f.Kustomization, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return waiting, what + ": not found"
		}
		if err != nil {
			return classify(what, err)
		}
		if st, why := v.fluxFailed(ctx, what, u, commit); st != ready {
			return st, why
		}
		applied, _, _ := unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
		if st, why := v.revision(ctx, what, applied, commit); st != ready {
			return st, why
		}
		if obs := nestedInt(u, "status", "observedGeneration"); obs < u.GetGeneration() {
			return waiting, fmt.Sprintf("%s: generation %d not reconciled yet", what, u.GetGeneration())
		}
		conds, err := conditions(u, "status", "conditions")
		if err != nil {
			return waiting, fmt.Sprintf("%s: %v", what, err)
		}
		c := apimeta.FindStatusCondition(conds, fluxmeta.ReadyCondition)
		switch {
		case c == nil:
			return waiting, what + ": no Ready condition"
		case c.Status != metav1.ConditionTrue:
			return waiting, fmt.Sprintf("%s: Ready=%s (%s: %s)", what, c.Status, c.Reason, oneLine(c.Message))
		}
		return ready, ""
	}}
}

// fluxFailed returns failed when kstatus computes Failed (a Stalled
// condition) and the failed attempt was of the commit or a later one; a
// Kustomization stalled on an older revision has not tried the commit yet,
// so that is waiting, not the commit's fault. ready means: not failed.
func (v *Verifier) fluxFailed(ctx context.Context, what string, u *unstructured.Unstructured, commit string) (state, string) {
	res, err := status.Compute(u)
	if err != nil || res.Status != status.FailedStatus {
		return ready, "" // the Ready check below judges the rest
	}
	reason := res.Message
	for _, c := range res.Conditions {
		if c.Type == status.ConditionStalled {
			reason = fmt.Sprintf("Stalled (%s: %s)", c.Reason, c.Message)
		}
	}
	attempted, _, _ := unstructured.NestedString(u.Object, "status", "lastAttemptedRevision")
	if st, _ := v.revision(ctx, what, attempted, commit); st != ready {
		return waiting, fmt.Sprintf("%s: %s at %s; %s not attempted yet", what, oneLine(reason), cmpOr(attempted, "no revision"), short(commit))
	}
	return failed, fmt.Sprintf("%s: %s", what, oneLine(reason))
}

// argoProbe is ready when the Application synced the commit (or a later
// one that includes it) and is Healthy.
func (v *Verifier) argoProbe(cl *clients, a config.ArgoCDCheck, commit string) probe {
	ns := cmpOr(a.Namespace, DefaultArgoCDNamespace)
	what := "Argo CD Application " + ns + "/" + a.Application
	return probe{what: what, read: func(ctx context.Context) (state, string) {
		u, err := cl.dynamic.Resource(ArgoApplications).Namespace(ns).Get(ctx, a.Application, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return waiting, what + ": not found"
		}
		if err != nil {
			return classify(what, err)
		}
		rev, _, _ := unstructured.NestedString(u.Object, "status", "sync", "revision")
		if st, why := v.revision(ctx, what, rev, commit); st != ready {
			return st, why
		}
		// Synced alone is not enough: Argo CD syncs manifests before the
		// pods run them, hence Healthy too.
		if sync, _, _ := unstructured.NestedString(u.Object, "status", "sync", "status"); sync != "Synced" {
			return waiting, fmt.Sprintf("%s: sync status %s", what, cmpOr(sync, "unknown"))
		}
		health, _, _ := unstructured.NestedString(u.Object, "status", "health", "status")
		if health != "Healthy" {
			msg, _, _ := unstructured.NestedString(u.Object, "status", "health", "message")
			return waiting, strings.TrimSuffix(fmt.Sprintf("%s: health %s: %s", what, cmpOr(health, "unknown"), oneLine(msg)), ": ")
		}
		return ready, ""
	}}
}

// revision checks that an applied revision ("main@sha1:<hash>", or a bare
// hash) is the commit or, with Ancestry, a later commit that includes it.
func (v *Verifier) revision(ctx context.Context, what, applied, commit string) (state, string) {
	if applied == "" {
		return waiting, what + ": nothing applied yet"
	}
	hash := RevisionHash(applied)
	if hash == commit || strings.Contains(applied, commit) {
		return ready, ""
	}
	// Other apps' commits move the branch on, so the controller may apply
	// a newer head: a descendant of the commit proves it as well.
	if v.o.Ancestry != nil && hash != "" {
		ok, err := v.o.Ancestry(ctx, commit, hash)
		if err != nil {
			return waiting, fmt.Sprintf("%s: applied %s; is %s part of it? %v", what, applied, short(commit), err)
		}
		if ok {
			return ready, ""
		}
	}
	return waiting, fmt.Sprintf("%s: applied %s, not %s", what, applied, short(commit))
}

// RevisionHash is the commit hash of a Flux or Argo CD revision:
// "main@sha1:<hash>", "<hash>", "refs/heads/main@sha256:<hash>".
func RevisionHash(rev string) string {
	if i := strings.LastIndex(rev, ":"); i >= 0 {
		return rev[i+1:]
	}
	if i := strings.LastIndex(rev, "/"); i >= 0 {
		return rev[i+1:]
	}
	return rev
}

func conditions(u *unstructured.Unstructured, fields ...string) ([]metav1.Condition, error) {
	raw, found, err := unstructured.NestedSlice(u.Object, fields...)
	if err != nil || !found {
		return nil, err
	}
	out := make([]metav1.Condition, 0, len(raw))
	for _, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		var c metav1.Condition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c); err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// oneLine folds a controller's message to one line of at most 200
// characters, for a verdict's reason.
func oneLine(s string) string {
	return text.Truncate(strings.Join(strings.Fields(s), " "), 200)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
