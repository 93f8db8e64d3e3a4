package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts validates again
// and orders every environment exactly once.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: x}\nenvironments: [{name: a, overlay: a, from: b}, {name: b, overlay: b, from: a}]\n"))
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: &g {url: x}\nregistry: {<<: *g}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("pipeline returned with an error")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
		order := p.Order()
		if len(order) != len(p.Environments) {
			t.Fatalf("Order() = %v for %d environments", order, len(p.Environments))
		}
		seen := map[string]bool{}
		for _, name := range order {
			if seen[name] {
				t.Fatalf("Order() repeats %q: %v", name, order)
			}
			seen[name] = true
		}
	})
}
