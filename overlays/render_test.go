package overlays

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const testRegistry = "127.0.0.1:5000"

var envs = []string{"dev", "qa", "ppd", "prod", "dr"}

func exampleFS(t testing.TB) fstest.MapFS {
	t.Helper()
	files, err := ExampleFleet(testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{}
	for p, data := range files {
		m[p] = &fstest.MapFile{Data: data}
	}
	return m
}

func TestExampleFleet(t *testing.T) {
	files, err := ExampleFleet(testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		p := "overlays/" + env + "/kustomization.yaml"
		data, ok := files[p]
		if !ok {
			t.Fatalf("no %s in %v", p, slices.Sorted(mapsKeys(files)))
		}
		imgs, err := ReadImages(data)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		want := []Image{
			{Name: "registry.example/shop/checkout", NewName: testRegistry + "/shop/checkout", NewTag: "0.0.0"},
			{Name: "registry.example/shop/cart", NewName: testRegistry + "/shop/cart", NewTag: "0.0.0"},
		}
		if !slices.Equal(imgs, want) {
			t.Errorf("%s images = %+v, want %+v", p, imgs, want)
		}
		if !strings.HasPrefix(string(data), "# ") || !strings.Contains(string(data), "# set by ferry") {
			t.Errorf("%s lacks its header or list comments", p)
		}
	}
	for p, data := range files {
		if strings.Contains(string(data), registryPlaceholder) {
			t.Errorf("%s still holds %s", p, registryPlaceholder)
		}
	}
	if !strings.Contains(string(files["overlays/dr/kustomization.yaml"]), "mirrors prod") {
		t.Error("the dr overlay does not say it mirrors prod")
	}
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestExampleFleetBadRegistry(t *testing.T) {
	for _, reg := range []string{"", "host name", "host:5000/", "a\nb"} {
		if _, err := ExampleFleet(reg); err == nil {
			t.Errorf("ExampleFleet(%q): no error", reg)
		}
	}
}

func TestRenderExampleOverlays(t *testing.T) {
	fleet := exampleFS(t)
	for _, env := range envs {
		t.Run(env, func(t *testing.T) {
			out, err := Render(fleet, "overlays/"+env)
			if err != nil {
				t.Fatal(err)
			}
			imgs, err := RenderImages(out)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{testRegistry + "/shop/checkout:0.0.0", testRegistry + "/shop/cart:0.0.0"}
			if !slices.Equal(imgs, want) {
				t.Errorf("images = %v, want %v", imgs, want)
			}
			for _, s := range []string{"namespace: shop-" + env, "env: " + env} {
				if !strings.Contains(string(out), s) {
					t.Errorf("rendered %s lacks %q", env, s)
				}
			}
		})
	}
}

func TestRenderAfterSetImage(t *testing.T) {
	fleet := exampleFS(t)
	p := "overlays/qa/kustomization.yaml"
	edited, changed, err := SetImage(fleet[p].Data, Image{Name: "registry.example/shop/checkout", NewTag: "1.2.3", Digest: digestA})
	if err != nil || !changed {
		t.Fatalf("SetImage: changed=%v err=%v", changed, err)
	}
	fleet[p] = &fstest.MapFile{Data: edited}
	out, err := Render(fleet, "overlays/qa")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := RenderImages(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{testRegistry + "/shop/checkout:1.2.3@" + digestA, testRegistry + "/shop/cart:0.0.0"}
	if !slices.Equal(imgs, want) {
		t.Errorf("images = %v, want %v", imgs, want)
	}
}

func TestRenderErrorsNameTheOverlay(t *testing.T) {
	base := exampleFS(t)
	cases := []struct {
		name, file, content, dir, want string
	}{
		{"missing resource", "overlays/qa/kustomization.yaml", "resources:\n- ../../nowhere\n", "overlays/qa", "render overlays/qa: "},
		{"bad yaml", "overlays/qa/kustomization.yaml", "resources: [\n", "overlays/qa", "render overlays/qa: "},
		{"no kustomization", "overlays/qa/kustomization.yaml", "", "overlays/none", "render overlays/none: "},
		{"broken base", "base/kustomization.yaml", "resources:\n- missing.yaml\n", "overlays/prod", "render overlays/prod: "},
		{"path outside", "", "", "../etc", "render ../etc: not a relative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fleet := fstest.MapFS{}
			for p, f := range base {
				fleet[p] = f
			}
			if tc.file != "" && tc.content != "" {
				fleet[tc.file] = &fstest.MapFile{Data: []byte(tc.content)}
			}
			_, err := Render(fleet, tc.dir)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q does not start with %q", err, tc.want)
			}
		})
	}
}

func TestRenderSkipsGit(t *testing.T) {
	fleet := exampleFS(t)
	fleet[".git/HEAD"] = &fstest.MapFile{Data: []byte("ref: refs/heads/main\n")}
	fleet[".git/objects"] = &fstest.MapFile{Mode: fs.ModeDir}
	if _, err := Render(fleet, "overlays/dev"); err != nil {
		t.Fatal(err)
	}
}

func TestRenderImages(t *testing.T) {
	workload := func(kind, specPrefix, body string) string {
		return "apiVersion: v1\nkind: " + kind + "\nmetadata: {name: w}\n" + specPrefix + body
	}
	pod := "    containers:\n    - {name: c, image: pod:1}\n"
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - {name: i, image: init:1}\n  containers:\n  - {name: c, image: app:1}\n", []string{"init:1", "app:1"}},
		{"deployment", workload("Deployment", "spec:\n  template:\n    spec:\n", strings.ReplaceAll(pod, "    ", "      ")), []string{"pod:1"}},
		{"statefulset", workload("StatefulSet", "spec:\n  template:\n    spec:\n", strings.ReplaceAll(pod, "    ", "      ")), []string{"pod:1"}},
		{"daemonset", workload("DaemonSet", "spec:\n  template:\n    spec:\n", strings.ReplaceAll(pod, "    ", "      ")), []string{"pod:1"}},
		{"job", workload("Job", "spec:\n  template:\n    spec:\n", strings.ReplaceAll(pod, "    ", "      ")), []string{"pod:1"}},
		{"cronjob", workload("CronJob", "spec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n", strings.ReplaceAll(pod, "    ", "          ")), []string{"pod:1"}},
		{"other kinds ignored", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {image: x}\n", nil},
		{"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {}\n", nil},
		{"each image once", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: x:1}, {name: d, image: y:1}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: [{name: c, image: x:1}]\n", []string{"x:1", "y:1"}},
		{"empty", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderImages([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRenderImagesErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"containers not a list", "kind: Pod\nmetadata: {name: p, namespace: n}\nspec: {containers: x}\n", "Pod n/p: spec.containers is not a list"},
		{"container not a mapping", "kind: Pod\nmetadata: {name: p}\nspec: {containers: [x]}\n", "Pod p: spec.containers[0] is not a mapping"},
		{"container without image", "kind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {initContainers: [{name: c}]}}}\n", "Deployment d: spec.template.spec.initContainers[0] has no image"},
		{"bad yaml", "kind: [\n", "render images: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenderImages([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}

// TestRenderDemoOverlays: every overlay of the demo's fleet builds, prod with
// its canary Deployment and the route ferry moves.
func TestRenderDemoOverlays(t *testing.T) {
	files, err := DemoFleet(testRegistry)
	if err != nil {
		t.Fatal(err)
	}
	fleet := fstest.MapFS{}
	for p, data := range files {
		fleet[p] = &fstest.MapFile{Data: data}
	}
	if _, ok := files["ferry.yaml"]; !ok {
		t.Fatal("the demo fleet has no ferry.yaml")
	}
	for _, env := range envs {
		t.Run(env, func(t *testing.T) {
			out, err := Render(fleet, "overlays/"+env)
			if err != nil {
				t.Fatal(err)
			}
			imgs, err := RenderImages(out)
			if err != nil {
				t.Fatal(err)
			}
			// Only prod has the canary Deployment, its images: entry pointing
			// at the same image.
			want := []string{testRegistry + "/shop/checkout:0.0.0"}
			if env == "prod" {
				if !strings.Contains(string(out), "kind: HTTPRoute") || !strings.Contains(string(out), "name: checkout-canary") {
					t.Errorf("prod renders no HTTPRoute or no canary Deployment")
				}
			}
			if !slices.Equal(imgs, want) {
				t.Errorf("images = %v, want %v", imgs, want)
			}
		})
	}
	if _, err := DemoFleet(""); err == nil || !strings.Contains(err.Error(), "demo fleet") {
		t.Errorf("DemoFleet(\"\"): %v, want an error naming the demo fleet", err)
	}
}
