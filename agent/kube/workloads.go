package kube

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Workload is a rendered apps/v1 object whose pods run the app's image.
type Workload struct {
	GVR       schema.GroupVersionResource
	Kind      string
	Namespace string
	Name      string
	// Images are the images its pod template must run, by container name.
	Images map[string]string
}

// String is "Kind namespace/name", as verdict reasons name workloads.
func (w Workload) String() string { return w.Kind + " " + w.Namespace + "/" + w.Name }

// workloadKinds are the rollouts ferry knows how to wait for.
var workloadKinds = map[string]schema.GroupVersionResource{
	"Deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"DaemonSet":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
}

// Workloads lists the Deployments, StatefulSets and DaemonSets of rendered
// (kustomize build output) with a container running image, the app's
// repository (newName of the overlay's images entry, no tag or digest).
// With image empty, a container matches when it carries the version's tag
// or digest. Objects without a namespace get namespace.
func Workloads(rendered []byte, image, tag, digest, namespace string) ([]Workload, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(rendered), 4096)
	var out []Workload
	for i := 0; ; i++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("rendered object %d: %w", i+1, err)
		}
		// An empty document (a stray "---") decodes to nil.
		if obj == nil {
			continue
		}
		u := unstructured.Unstructured{Object: obj}
		gvr, ok := workloadKinds[u.GetKind()]
		if !ok || u.GetAPIVersion() != "apps/v1" {
			continue
		}
		images, err := podImages(u.Object)
		if err != nil {
			return nil, fmt.Errorf("rendered %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		want := map[string]string{}
		for name, img := range images {
			if runs(img, image, tag, digest) {
				want[name] = img
			}
		}
		if len(want) == 0 {
			continue
		}
		ns := u.GetNamespace()
		if ns == "" {
			ns = namespace
		}
		out = append(out, Workload{GVR: gvr, Kind: u.GetKind(), Namespace: ns, Name: u.GetName(), Images: want})
	}
}

// podImages are the images of a workload's pod template, by container name
// (init containers included: they run the image too).
func podImages(obj map[string]any) (map[string]string, error) {
	out := map[string]string{}
	for _, field := range []string{"initContainers", "containers"} {
		list, _, err := unstructured.NestedSlice(obj, "spec", "template", "spec", field)
		if err != nil {
			return nil, fmt.Errorf("spec.template.spec.%s: %w", field, err)
		}
		for _, c := range list {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			name, _ := m["name"].(string)
			img, _ := m["image"].(string)
			if name != "" && img != "" {
				out[name] = img
			}
		}
	}
	return out, nil
}

// runs tells whether ref (name[:tag][@digest]) is the app's image.
func runs(ref, image, tag, digest string) bool {
	name, refTag, refDigest := splitRef(ref)
	// By repository alone: the rendered tag is what the commit wrote, and
	// the live object is compared to it later.
	if image != "" {
		return name == strings.TrimSuffix(image, "/")
	}
	return (tag != "" && refTag == tag) || (digest != "" && refDigest == digest)
}

// splitRef splits an image reference into repository, tag and digest.
func splitRef(ref string) (name, tag, digest string) {
	name = ref
	if i := strings.Index(name, "@"); i >= 0 {
		name, digest = name[:i], name[i+1:]
	}
	// A colon after the last slash is a tag; before it, a registry port.
	if i := strings.LastIndex(name, ":"); i >= 0 && i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}
