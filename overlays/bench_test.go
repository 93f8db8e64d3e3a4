package overlays

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bigKustomization is an overlay with n images entries.
func bigKustomization(n int) []byte {
	var b strings.Builder
	b.WriteString("# generated\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\nimages:\n")
	for i := range n {
		fmt.Fprintf(&b, "# app %d\n- name: registry.example/shop/app%d\n  newName: 127.0.0.1:5000/shop/app%d\n  newTag: 1.0.%d # set by ferry\n", i, i, i, i)
	}
	return []byte(b.String())
}

// benchInputs are the kustomizations and the bump made to each.
func benchInputs(b *testing.B) []struct {
	name string
	data []byte
	img  Image
} {
	files, err := ExampleFleet(testRegistry)
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		data []byte
		img  Image
	}{
		{"small", files["overlays/dev/kustomization.yaml"], Image{Name: checkout, NewTag: "1.2.3", Digest: digestA}},
		{"1000-entries", bigKustomization(1000), Image{Name: "registry.example/shop/app999", NewTag: "2.0.0", Digest: digestA}},
	}
}

func BenchmarkSetImage(b *testing.B) {
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, changed, err := SetImage(in.data, in.img); err != nil || !changed {
					b.Fatalf("changed=%v err=%v", changed, err)
				}
			}
		})
	}
}

func BenchmarkReadImages(b *testing.B) {
	data := bigKustomization(1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if imgs, err := ReadImages(data); err != nil || len(imgs) != 1000 {
			b.Fatalf("%d images, err=%v", len(imgs), err)
		}
	}
}

// BenchmarkKustomizeEditSetImage is the peer SetImage is measured against: the same
// bump by `kustomize edit set image` as a process. It needs a kustomize binary, from
// $KUSTOMIZE or PATH, e.g.
// `GOBIN=/tmp/kbin go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2`.
func BenchmarkKustomizeEditSetImage(b *testing.B) {
	bin := os.Getenv("KUSTOMIZE")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("kustomize"); err != nil {
			b.Skip("no kustomize binary: set KUSTOMIZE or put kustomize on PATH")
		}
	}
	for _, in := range benchInputs(b) {
		b.Run(in.name, func(b *testing.B) {
			dir := b.TempDir()
			file := filepath.Join(dir, "kustomization.yaml")
			arg := fmt.Sprintf("%s=%s:%s@%s", in.img.Name, in.img.Name, in.img.NewTag, in.img.Digest)
			for b.Loop() {
				if err := os.WriteFile(file, in.data, 0o644); err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command(bin, "edit", "set", "image", arg)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("kustomize edit set image: %v\n%s", err, out)
				}
			}
		})
	}
}
