package kube

import (
	"reflect"
	"testing"
)

const rendered = `apiVersion: v1
kind: Service
metadata: {name: checkout, namespace: shop-prod}
spec: {ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: checkout, namespace: shop-prod}
spec:
  replicas: 3
  template:
    spec:
      initContainers: [{name: migrate, image: "registry.example:5000/shop/checkout:1.2.0"}]
      containers:
      - {name: app, image: "registry.example:5000/shop/checkout:1.2.0"}
      - {name: proxy, image: "envoyproxy/envoy:v1.30.0"}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: checkout-worker}
spec:
  template:
    spec:
      containers: [{name: worker, image: "registry.example:5000/shop/checkout@sha256:abc"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cart, namespace: shop-prod}
spec:
  template:
    spec:
      containers: [{name: cart, image: "registry.example:5000/shop/cart:1.2.0"}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: checkout-once, namespace: shop-prod}
spec:
  template:
    spec:
      containers: [{name: job, image: "registry.example:5000/shop/checkout:1.2.0"}]
`

func TestWorkloads(t *testing.T) {
	checkout := Workload{GVR: workloadKinds["Deployment"], Kind: "Deployment", Namespace: "shop-prod", Name: "checkout",
		Images: map[string]string{"migrate": "registry.example:5000/shop/checkout:1.2.0", "app": "registry.example:5000/shop/checkout:1.2.0"}}
	worker := Workload{GVR: workloadKinds["StatefulSet"], Kind: "StatefulSet", Namespace: "fallback", Name: "checkout-worker",
		Images: map[string]string{"worker": "registry.example:5000/shop/checkout@sha256:abc"}}
	cart := Workload{GVR: workloadKinds["Deployment"], Kind: "Deployment", Namespace: "shop-prod", Name: "cart",
		Images: map[string]string{"cart": "registry.example:5000/shop/cart:1.2.0"}}
	tests := []struct {
		name               string
		image, tag, digest string
		want               []Workload
	}{
		{name: "by repository", image: "registry.example:5000/shop/checkout", tag: "1.2.0", want: []Workload{checkout, worker}},
		{name: "by tag without a repository", tag: "1.2.0", want: []Workload{checkout, cart}},
		{name: "by digest without a repository", digest: "sha256:abc", want: []Workload{worker}},
		{name: "nothing runs the image", image: "registry.example:5000/shop/payments", tag: "1.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Workloads([]byte(rendered), tt.image, tt.tag, tt.digest, "fallback")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Workloads = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestWorkloadsBadInput(t *testing.T) {
	for _, in := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: 7}}}\n",
		"a: [\n",
	} {
		if _, err := Workloads([]byte(in), "img", "1", "", "ns"); err == nil {
			t.Errorf("Workloads(%q): no error", in)
		}
	}
}

func TestSplitRef(t *testing.T) {
	tests := []struct{ ref, name, tag, digest string }{
		{"nginx", "nginx", "", ""},
		{"nginx:1.25", "nginx", "1.25", ""},
		{"registry:5000/shop/app", "registry:5000/shop/app", "", ""},
		{"registry:5000/shop/app:1.0@sha256:ab", "registry:5000/shop/app", "1.0", "sha256:ab"},
		{"registry/app@sha256:ab", "registry/app", "", "sha256:ab"},
	}
	for _, tt := range tests {
		n, tg, d := splitRef(tt.ref)
		if n != tt.name || tg != tt.tag || d != tt.digest {
			t.Errorf("splitRef(%q) = %q %q %q, want %q %q %q", tt.ref, n, tg, d, tt.name, tt.tag, tt.digest)
		}
	}
}

func TestRevisionHash(t *testing.T) {
	tests := []struct{ rev, want string }{
		{"main@sha1:0123abcd", "0123abcd"},
		{"refs/heads/main@sha256:ffee", "ffee"},
		{"0123abcd", "0123abcd"},
		{"main/0123abcd", "0123abcd"},
	}
	for _, tt := range tests {
		if got := RevisionHash(tt.rev); got != tt.want {
			t.Errorf("RevisionHash(%q) = %q, want %q", tt.rev, got, tt.want)
		}
	}
}

// FuzzWorkloads: rendered manifests come from the fleet repo; whatever they
// hold, Workloads returns workloads with a name and images, or an error.
func FuzzWorkloads(f *testing.F) {
	f.Add([]byte(rendered), "registry.example:5000/shop/checkout", "1.2.0")
	f.Add([]byte("---\n---\n"), "", "x")
	f.Add([]byte(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i:1"}]}}}}`), "i", "1")
	f.Fuzz(func(t *testing.T, data []byte, image, tag string) {
		wls, err := Workloads(data, image, tag, "", "ns")
		if err != nil {
			return
		}
		for _, w := range wls {
			if w.Namespace == "" || len(w.Images) == 0 {
				t.Errorf("workload %+v without a namespace or images", w)
			}
		}
	})
}
