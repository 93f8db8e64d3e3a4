package overlays

import (
	"io/fs"
	"os"
	"path"
	"slices"
	"testing"
	"testing/fstest"
)

// exampleStrategies are the example overlays under examples/ and the route states
// ferry commits in turn for a release with each (after the canary image bump).
var exampleStrategies = []struct {
	dir    string
	header bool
	steps  []RouteState
}{
	{"canary", false, []RouteState{
		{StableWeight: 95, CanaryWeight: 5}, {StableWeight: 75, CanaryWeight: 25},
		{StableWeight: 50, CanaryWeight: 50}, {StableWeight: 0, CanaryWeight: 100},
		{StableWeight: 100, CanaryWeight: 0},
	}},
	{"blue-green", false, []RouteState{{StableWeight: 0, CanaryWeight: 100}, {StableWeight: 100}}},
	{"ab-test", true, []RouteState{{StableWeight: 100, HeaderMatch: true}, {StableWeight: 100}}},
	{"shadow", false, []RouteState{{StableWeight: 100, Mirror: true}, {StableWeight: 100}}},
}

func TestExamplesRender(t *testing.T) {
	const (
		kustomization = "overlays/prod/kustomization.yaml"
		routeFile     = "overlays/prod/checkout-route.yaml"
	)
	for _, ex := range exampleStrategies {
		t.Run(ex.dir, func(t *testing.T) {
			fleet := fstest.MapFS{}
			root := os.DirFS(path.Join("examples", ex.dir))
			err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				data, err := fs.ReadFile(root, p)
				fleet[p] = &fstest.MapFile{Data: data}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"README.md", "base/kustomization.yaml", kustomization, routeFile} {
				if fleet[f] == nil {
					t.Fatalf("%s is missing", f)
				}
			}
			spec := RouteSpec{Name: "checkout", Stable: "checkout", Canary: "checkout-canary"}
			if ex.header {
				spec.Header = &HeaderMatch{Name: "x-ferry-canary", Value: "true"}
			}
			st, err := ReadRoute(fleet[routeFile].Data, spec)
			if err != nil || st != (RouteState{StableWeight: 100}) {
				t.Fatalf("ReadRoute(%s) = %+v, %v; want stable 100 only", routeFile, st, err)
			}
			// The release's first commit: the canary entry to the new version.
			out, changed, err := SetImage(fleet[kustomization].Data, Image{Name: "registry.example/shop/checkout-canary", NewTag: "1.5.0"})
			if err != nil || !changed {
				t.Fatalf("SetImage canary: changed=%v err=%v", changed, err)
			}
			fleet[kustomization].Data = out
			rendered := renderExample(t, fleet, spec, st)
			images, err := RenderImages(rendered)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"registry.example/shop/checkout:1.4.0", "registry.example/shop/checkout:1.5.0"} {
				if !slices.Contains(images, want) {
					t.Errorf("rendered images %v lack %s", images, want)
				}
			}
			for _, want := range ex.steps {
				out, changed, err := SetRoute(fleet[routeFile].Data, spec, want)
				if err != nil || !changed {
					t.Fatalf("SetRoute(%+v): changed=%v err=%v", want, changed, err)
				}
				fleet[routeFile].Data = out
				renderExample(t, fleet, spec, want)
			}
		})
	}
}

// renderExample renders the prod overlay and checks that the HTTPRoute in the output
// still reads as want.
func renderExample(t *testing.T, fleet fs.FS, spec RouteSpec, want RouteState) []byte {
	t.Helper()
	rendered, err := Render(fleet, "overlays/prod")
	if err != nil {
		t.Fatalf("render with route %+v: %v", want, err)
	}
	if got, err := ReadRoute(rendered, spec); err != nil || got != want {
		t.Fatalf("the rendered route reads as %+v, %v; want %+v\n%s", got, err, want, rendered)
	}
	return rendered
}
