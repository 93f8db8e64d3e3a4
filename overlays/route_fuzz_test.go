package overlays

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func FuzzSetRoute(f *testing.F) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "route", "*", "input.yaml"))
	if err != nil || len(inputs) == 0 {
		f.Fatalf("no golden inputs: %v", err)
	}
	states := []RouteState{
		{StableWeight: 95, CanaryWeight: 5},
		{StableWeight: 100, HeaderMatch: true},
		{StableWeight: 100, Mirror: true},
		{StableWeight: 0, CanaryWeight: 100, HeaderMatch: true, Mirror: true},
	}
	for i, p := range inputs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		st := states[i%len(states)]
		f.Add(data, st.StableWeight, st.CanaryWeight, st.HeaderMatch, st.Mirror)
	}
	// Layouts the goldens do not cover.
	for _, doc := range []string{
		"kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - filters:\n    backendRefs:\n    - name: checkout\n",
		"kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - filters: [] # none\n    backendRefs:\n    - {name: checkout, weight: 1}\n",
		"kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  -\n    backendRefs:\n    -\n      name: checkout\n",
		"kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - filters:\n    - type: RequestMirror\n      requestMirror: {backendRef: {name: checkout-canary}}\n    backendRefs: [{name: checkout}]\n",
		"{kind: HTTPRoute, metadata: {name: checkout}, spec: {rules: [{backendRefs: [{name: checkout, weight: 3}]}]}}",
		"kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - backendRefs:\n    - name: checkout\n      weight: !!int 4\n      port: |\n        80\n",
	} {
		f.Add([]byte(doc), 1, 1, true, true)
		f.Add([]byte(doc), 3, 0, false, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, stable, canary int, header, mirror bool) {
		if _, err := ReadRoute(data, routeSpec); err != nil {
			// SetRoute must refuse what ReadRoute cannot read.
			if _, _, err2 := SetRoute(data, routeSpec, RouteState{StableWeight: 1}); err2 == nil {
				t.Fatalf("ReadRoute fails (%v) but SetRoute does not", err)
			}
			return
		}
		want := RouteState{StableWeight: stable, CanaryWeight: canary, HeaderMatch: header, Mirror: mirror}
		out, changed, err := SetRoute(data, routeSpec, want)
		if err != nil {
			return
		}
		got, err := ReadRoute(out, routeSpec)
		if err != nil || got != want {
			t.Fatalf("SetRoute output reads back as %+v, %v; want %+v\n%s", got, err, want, out)
		}
		if !changed && !bytes.Equal(out, data) {
			t.Fatal("changed is false but the output differs")
		}
		if again, c, err := SetRoute(out, routeSpec, want); err != nil || c || !bytes.Equal(again, out) {
			t.Fatalf("SetRoute on its own output: changed=%v err=%v", c, err)
		}
	})
}

func BenchmarkSetRoute(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "route", "comments-preserved", "input.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		want RouteState
	}{
		{"weights", RouteState{StableWeight: 75, CanaryWeight: 25}},
		{"header-and-mirror", RouteState{StableWeight: 100, HeaderMatch: true, Mirror: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, _, err := SetRoute(data, routeSpec, bc.want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
