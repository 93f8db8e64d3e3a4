package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
)

// WriteKubeconfig writes a kubeconfig with one context of a bearer-token
// user and returns its path. namespace may be empty.
func (c *Cluster) WriteKubeconfig(t testing.TB, name, token, context, namespace string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.caData}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: name, Namespace: namespace}
	cfg.CurrentContext = context
	path := filepath.Join(c.dir, "kubeconfig-"+name)
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return path
}

// EnsureNamespace creates ns unless it exists.
func (c *Cluster) EnsureNamespace(t testing.TB, ns string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: namespace %s: %v", ns, err)
	}
}

// ServiceAccountToken creates the ServiceAccount ns/name unless it exists
// and returns a token for it (TokenRequest, one hour).
func (c *Cluster) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	c.EnsureNamespace(t, ns)
	sas := c.Client.CoreV1().ServiceAccounts(ns)
	_, err := sas.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("kubetest: service account %s/%s: %v", ns, name, err)
	}
	tr, err := sas.CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubetest: token of %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// Apply server-side applies every object of a multi-document YAML (or
// JSON) stream as the admin, creating namespaces it names, and waits for
// CustomResourceDefinitions to be served.
func (c *Cluster) Apply(t testing.TB, manifests []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(manifests)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	ctx := context.Background()
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if ns := u.GetNamespace(); ns != "" {
			c.EnsureNamespace(t, ns)
		}
		applied, err := c.apply(ctx, u)
		if err != nil {
			t.Fatalf("kubetest: apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "CustomResourceDefinition" {
			c.waitEstablished(t, u.GetName())
		}
		out = append(out, applied)
	}
	return out
}

func (c *Cluster) apply(ctx context.Context, u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	gvk := u.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", gvk, err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	ri := c.Dynamic.Resource(m.Resource)
	opts := metav1.PatchOptions{FieldManager: "kubetest", Force: ptr.To(true)}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return ri.Namespace(ns).Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
	}
	return ri.Patch(ctx, u.GetName(), types.ApplyPatchType, data, opts)
}

// waitEstablished waits until a CRD's resources are served.
func (c *Cluster) waitEstablished(t testing.TB, name string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	crds := c.Dynamic.Resource(crdGVR)
	for {
		u, err := crds.Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cd := range conds {
				m, _ := cd.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: CRD %s not established: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Decode splits a YAML or JSON stream into objects, skipping empty documents.
func Decode(manifests []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}
