package kubetest

import (
	"context"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestStart brings a control plane up, applies a Deployment, plays its
// controller, and checks a ServiceAccount token authenticates as that
// account and RBAC applies to it.
func TestStart(t *testing.T) {
	c := Start(t, Binary(t))
	c.Apply(t, []byte(`apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "registry.example/web:1.0.0"}]
`))
	c.SetStatus(t, Deployments, "shop", "web", DeploymentRollout(2))
	d, err := c.Client.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Status.AvailableReplicas != 2 || d.Status.ObservedGeneration != d.Generation {
		t.Errorf("status = %+v, want 2 available at generation %d", d.Status, d.Generation)
	}

	token := c.ServiceAccountToken(t, "ferry", "ferry")
	path := c.WriteKubeconfig(t, "ferry", token, "test", "shop")
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	review, err := sa.AuthorizationV1().SelfSubjectAccessReviews().Create(context.Background(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: "shop", Verb: "get", Group: "apps", Resource: "deployments"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if review.Status.Allowed {
		t.Errorf("a ServiceAccount without RoleBindings may read Deployments: RBAC is not enforced")
	}
	if _, err := sa.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Errorf("a ServiceAccount without RoleBindings read a Deployment")
	}
}
