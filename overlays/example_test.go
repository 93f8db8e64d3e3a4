package overlays_test

import (
	"fmt"

	"github.com/ferry-dev/ferry/overlays"
)

func ExampleSetImage() {
	kustomization := []byte(`images:
- name: registry.example/shop/checkout # the storefront
  newName: 127.0.0.1:5000/shop/checkout
  newTag: 1.2.2
`)
	out, changed, err := overlays.SetImage(kustomization, overlays.Image{
		Name:   "registry.example/shop/checkout",
		NewTag: "1.2.3",
		Digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(changed)
	fmt.Print(string(out))
	// Output:
	// true
	// images:
	// - name: registry.example/shop/checkout # the storefront
	//   newName: 127.0.0.1:5000/shop/checkout
	//   newTag: 1.2.3
	//   digest: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
}

func ExampleReadImages() {
	images, err := overlays.ReadImages([]byte("images:\n- name: a\n  newTag: \"1.0\"\n- name: b\n  x: 1\n- c\n"))
	fmt.Println(images, err)
	// Output:
	// [] read images: invalid kustomization: line 6: images[2] is a scalar ("c"); want a mapping
}
