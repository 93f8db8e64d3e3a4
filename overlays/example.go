package overlays

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

// Example is the example fleet: base/ and overlays/{dev,qa,ppd,prod,dr}/ under
// "example". Its images point at the placeholder host REGISTRY; see ExampleFleet.
// The all: prefix embeds files whose names start with '.' or '_' as well.
//
//go:embed all:example
var Example embed.FS

// registryPlaceholder stands for the registry host in the example overlays:
// the demo and the e2e tests start registries on ports known only at run time.
const registryPlaceholder = "REGISTRY"

// ExampleFleet returns the files of the example fleet by path from the fleet root
// (for example "overlays/dev/kustomization.yaml"), with the placeholder REGISTRY
// replaced by registry, a host[:port] such as 127.0.0.1:5000.
func ExampleFleet(registry string) (map[string][]byte, error) {
	return fleetFiles(Example, "example", registry)
}

// Demo is the fleet `ferry demo` runs: one app, checkout, through dev, qa,
// ppd (a pull request), prod (a canary with its route) and dr, under
// "demo". Like Example, its images point at the placeholder host REGISTRY.
//
//go:embed all:demo
var Demo embed.FS

// DemoFleet returns the files of the demo fleet as ExampleFleet does.
func DemoFleet(registry string) (map[string][]byte, error) {
	return fleetFiles(Demo, "demo", registry)
}

func fleetFiles(fsys embed.FS, dir, registry string) (map[string][]byte, error) {
	if registry == "" {
		return nil, fmt.Errorf("%s fleet: registry is empty", dir)
	}
	if err := checkName(registry); err != nil {
		return nil, fmt.Errorf("%s fleet: registry %q: %w", dir, registry, err)
	}
	// A trailing '/' would put "//" into every image name.
	if strings.HasSuffix(registry, "/") {
		return nil, fmt.Errorf("%s fleet: registry %q ends with '/'", dir, registry)
	}
	root, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s fleet: %w", dir, err)
	}
	files := map[string][]byte{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		files[p] = bytes.ReplaceAll(data, []byte(registryPlaceholder), []byte(registry))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s fleet: %w", dir, err)
	}
	return files, nil
}
