package overlays

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Render builds the kustomization in dir of a fleet repo tree, as `kustomize build`
// would, and returns the rendered YAML. The tree is copied into memory first (all of
// it but .git: which files a kustomization reaches is only known while building it).
func Render(fsys fs.FS, dir string) ([]byte, error) {
	// An absolute or ".." path names nothing in the fleet tree: refuse it
	// before copying anything.
	dir = path.Clean(dir)
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("render %s: not a relative slash-separated path inside the fleet", dir)
	}
	mem := filesys.MakeFsInMemory()
	if err := copyTree(fsys, mem, ".", ".", 0); err != nil {
		return nil, fmt.Errorf("render %s: copy fleet: %w", dir, err)
	}
	// kustomize's defaults, as `kustomize build` without flags: plugins and
	// Helm off, file loads kept under the kustomization's root.
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, dir)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	out, err := resources.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", dir, err)
	}
	return out, nil
}

// maxLinkDepth bounds nested symbolic links to directories while copying:
// a link to its own parent would otherwise copy forever.
const maxLinkDepth = 8

// copyTree copies fsys's tree at from into mem at to. kustomize's in-memory
// filesystem has no symbolic links, so a link inside the repository is
// copied as what it points to (a file, or a directory's files), as kustomize
// would see it on disk; a link that leads outside the repository, or
// nowhere, is left out, never an error for overlays that do not use it.
func copyTree(fsys fs.FS, mem filesys.FileSystem, from, to string, depth int) error {
	return fs.WalkDir(fsys, from, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		// .git is never part of a build and may be large.
		case d.IsDir() && d.Name() == ".git":
			return fs.SkipDir
		case d.IsDir():
			return nil
		}
		dest := p
		if from != "." {
			dest = path.Join(to, strings.TrimPrefix(p, from+"/"))
		}
		if d.Type()&fs.ModeSymlink != 0 {
			info, err := fs.Stat(fsys, p)
			switch {
			case err != nil:
				return nil // leaves the repository or points nowhere
			case info.IsDir() && depth < maxLinkDepth:
				return copyTree(fsys, mem, p, dest, depth+1)
			case info.IsDir():
				return fmt.Errorf("%s: more than %d nested symbolic links to directories", p, maxLinkDepth)
			}
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		return mem.WriteFile(dest, data)
	})
}

// podSpecPaths says where each workload kind keeps its pod spec: the usual
// kinds an images entry reaches, so Bump's check finds the version in any.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// RenderImages returns the images of the containers and init containers of the
// workloads in rendered YAML, each once, in the order they first appear.
func RenderImages(rendered []byte) ([]string, error) {
	nodes, err := kio.FromBytes(rendered)
	if err != nil {
		return nil, fmt.Errorf("render images: %w", err)
	}
	var images []string
	seen := map[string]bool{}
	for i, rn := range nodes {
		if rn.YNode().Kind != yaml.MappingNode {
			return nil, fmt.Errorf("render images: document %d is not a mapping", i+1)
		}
		specPath, ok := podSpecPaths[rn.GetKind()]
		if !ok {
			continue
		}
		for _, field := range []string{"initContainers", "containers"} {
			// The full slice expression makes append copy: the map's
			// shared slice must not be written to.
			imgs, err := containerImages(rn, append(specPath[:len(specPath):len(specPath)], field))
			if err != nil {
				return nil, fmt.Errorf("render images: %s %s: %w", rn.GetKind(), objectName(rn), err)
			}
			for _, img := range imgs {
				if !seen[img] {
					seen[img] = true
					images = append(images, img)
				}
			}
		}
	}
	return images, nil
}

func containerImages(rn *yaml.RNode, fieldPath []string) ([]string, error) {
	list, err := rn.Pipe(yaml.Lookup(fieldPath...))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", joinPath(fieldPath), err)
	}
	if list == nil || isNull(list.YNode()) {
		return nil, nil
	}
	if list.YNode().Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s is not a list", joinPath(fieldPath))
	}
	var images []string
	for i, c := range list.Content() {
		if c.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s[%d] is not a mapping", joinPath(fieldPath), i)
		}
		// A container without an image would not deploy: say so rather
		// than skip it.
		img := yaml.NewRNode(c).Field("image")
		if img == nil || img.Value.YNode().Kind != yaml.ScalarNode || img.Value.YNode().Value == "" {
			return nil, fmt.Errorf("%s[%d] has no image", joinPath(fieldPath), i)
		}
		images = append(images, img.Value.YNode().Value)
	}
	return images, nil
}

func objectName(rn *yaml.RNode) string {
	if ns := rn.GetNamespace(); ns != "" {
		return ns + "/" + rn.GetName()
	}
	return rn.GetName()
}

func joinPath(p []string) string { return strings.Join(p, ".") }
