package overlays

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// goldenInputs seeds the fuzzers with every golden input.
func goldenInputs(f *testing.F) [][]byte {
	f.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "setimage", "*", "input.yaml"))
	if err != nil || len(dirs) == 0 {
		f.Fatalf("no golden inputs: %v", err)
	}
	var out [][]byte
	for _, p := range dirs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

func FuzzReadImages(f *testing.F) {
	for _, data := range goldenInputs(f) {
		f.Add(data)
	}
	f.Add([]byte("images: [{name: a, newTag: 1}, {name: b}]"))
	f.Add([]byte("images:\n- name: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		imgs, err := ReadImages(data)
		if err != nil {
			return
		}
		for i, img := range imgs {
			if img.Name == "" {
				t.Errorf("image %d has no name", i)
			}
		}
	})
}

func FuzzSetImage(f *testing.F) {
	for i, data := range goldenInputs(f) {
		names := []string{checkout, cart, "other"}
		f.Add(data, names[i%3], "", "1.2.3", digestA)
		f.Add(data, names[(i+1)%3], "127.0.0.1:5000/shop/x", "", "")
		f.Add(data, names[(i+2)%3], "", "1.0", "")
	}
	f.Add([]byte("images:\n- name: a # c\n  newTag: |\n    x\n  other: 1\n"), "a", "b", "v2", digestB)
	f.Add([]byte("images: [{name: a, newTag: 'x', digest: \"sha256:1\"}]"), "a", "", "", "")
	// Layouts the golden cases do not cover.
	for _, doc := range []string{
		"images:\n- name: a\n  newTag: |\n    x\n  digest: >-\n    sha256:1\n",
		"images:\n- name: a\n  newTag: !!str 1.0\n",
		"images:\n- name: a\n  newTag: multi\n    line plain\n  digest: x\n",
		"images: [\n  {name: a, # c\n   newTag: v1},\n  # c2\n  {name: b}\n]\n",
		"images:\n- {newTag: v1, name: a}\n- name: b\n",
		"images:\n-\n  name: a\n  newTag: v1\n",
		"images:\n- name: a\n  newTag:\n  digest: ~\n",
		"{images: }\n",
		"images: ~ # c\nkind: K\n",
		"x: &a [1]\ny: *a\n",
	} {
		f.Add([]byte(doc), "a", "n/x", "1.2.3", digestA)
		f.Add([]byte(doc), "b", "", "v9", "")
	}
	f.Fuzz(func(t *testing.T, data []byte, name, newName, tag, digest string) {
		img := Image{Name: name, NewName: newName, NewTag: tag, Digest: digest}
		out, changed, err := SetImage(data, img)
		if err != nil {
			return
		}
		if !changed && !bytes.Equal(out, data) {
			t.Fatalf("changed=false but output differs:\n%q\n%q", data, out)
		}
		before, err := ReadImages(data)
		if err != nil {
			t.Fatalf("SetImage accepted what ReadImages rejects: %v", err)
		}
		after, err := ReadImages(out)
		if err != nil {
			t.Fatalf("ReadImages of SetImage output: %v\n--- input\n%s\n--- output\n%s", err, data, out)
		}
		found := false
		for _, a := range after {
			if a.Name != name {
				continue
			}
			found = true
			if a.NewTag != tag || a.Digest != digest || newName != "" && a.NewName != newName {
				t.Fatalf("entry %+v does not hold %+v\n--- input\n%s\n--- output\n%s", a, img, data, out)
			}
		}
		if !found {
			t.Fatalf("no entry %q after SetImage\n--- output\n%s", name, out)
		}
		if o1, o2 := others(before, name), others(after, name); !reflect.DeepEqual(o1, o2) {
			t.Fatalf("other entries changed: %+v -> %+v", o1, o2)
		}
		if m1, m2 := withoutImages(data), withoutImages(out); m1 != nil && !reflect.DeepEqual(m1, m2) {
			t.Fatalf("keys besides images changed: %v -> %v", m1, m2)
		}
		again, changed, err := SetImage(out, img)
		if err != nil || changed || !bytes.Equal(again, out) {
			t.Fatalf("second SetImage: changed=%v err=%v", changed, err)
		}
	})
}

func others(imgs []Image, name string) []Image {
	var out []Image
	for _, img := range imgs {
		if img.Name != name {
			out = append(out, img)
		}
	}
	return out
}

// withoutImages decodes a document, images removed; nil when it does not decode
// into a map (duplicate keys elsewhere, for one).
func withoutImages(data []byte) map[string]any {
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil || m == nil {
		return nil
	}
	delete(m, "images")
	return m
}

func FuzzRenderImages(f *testing.F) {
	f.Add([]byte("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n"))
	f.Add([]byte("kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {initContainers: [{image: y}]}}}}}\n---\nkind: Job\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		imgs, err := RenderImages(data)
		if err != nil {
			return
		}
		for _, img := range imgs {
			if img == "" {
				t.Error("empty image")
			}
		}
	})
}
