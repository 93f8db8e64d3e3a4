package kubetest

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
)

// Deployments is apps/v1 deployments, the resource tests most often play the controller of.
var Deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// SetStatus plays a controller: it replaces the status of the object
// (namespace "" for cluster-scoped) with what status computes from the
// current object, retrying on conflicts.
func (c *Cluster) SetStatus(t testing.TB, gvr schema.GroupVersionResource, ns, name string, status func(u *unstructured.Unstructured) map[string]any) {
	t.Helper()
	ri := c.Dynamic.Resource(gvr).Namespace(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := ri.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		u.Object["status"] = status(u)
		_, err = ri.UpdateStatus(context.Background(), u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("kubetest: status of %s %s/%s: %v", gvr.Resource, ns, name, err)
	}
}

// DeploymentRollout is the status the deployment controller writes once
// updated of the Deployment's spec.replicas run its current template and
// are available: all of them means the rollout is complete.
func DeploymentRollout(updated int64) func(u *unstructured.Unstructured) map[string]any {
	return func(u *unstructured.Unstructured) map[string]any {
		want, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		if !found {
			want = 1
		}
		updated := min(updated, want)
		progressing := map[string]any{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": "rolling out"}
		if updated == want {
			progressing["reason"] = "NewReplicaSetAvailable"
		}
		available := "False"
		if updated == want {
			available = "True"
		}
		return map[string]any{
			"observedGeneration": u.GetGeneration(),
			"replicas":           want,
			"updatedReplicas":    updated,
			"readyReplicas":      updated,
			"availableReplicas":  updated,
			"conditions": []any{
				map[string]any{"type": "Available", "status": available, "reason": "MinimumReplicasAvailable", "message": "test"},
				progressing,
			},
		}
	}
}
