package overlays

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
)

// CanarySuffix names a canary Deployment's images entry after its stable
// one's: registry.example/shop/checkout-canary next to
// registry.example/shop/checkout.
const CanarySuffix = "-canary"

// Index finds a kustomization's images entries by name and newName, so a
// lookup per app stays cheap in an overlay of thousands of entries.
type Index struct {
	images    []Image
	byName    map[string][]int
	byNewName map[string][]int
}

// NewIndex indexes images (kept, not copied).
func NewIndex(images []Image) *Index {
	x := &Index{images: images, byName: make(map[string][]int, len(images)), byNewName: map[string][]int{}}
	for i, im := range images {
		x.byName[im.Name] = append(x.byName[im.Name], i)
		if im.NewName != "" {
			x.byNewName[im.NewName] = append(x.byNewName[im.NewName], i)
		}
	}
	return x
}

// App finds an app's entry: by image name, by newName, then by the app's
// name. A canary entry (NAME-canary next to NAME, or the entry called
// canary when it is not "") is never the app's: it is not what the
// environment runs.
func (x *Index) App(image, app, canary string) (Image, bool) {
	for _, matches := range [...][]int{x.byName[image], x.byNewName[image], x.byName[app]} {
		for _, i := range matches {
			if im := x.images[i]; !x.IsCanary(im) && (canary == "" || im.Name != canary) {
				return im, true
			}
		}
	}
	return Image{}, false
}

// IsCanary reports whether im is the canary entry of another entry.
func (x *Index) IsCanary(im Image) bool {
	base, ok := strings.CutSuffix(im.Name, CanarySuffix)
	if !ok {
		return false
	}
	_, has := x.byName[base]
	return has
}

// AppEntry is NewIndex(images).App(image, app, canary), for one look-up.
func AppEntry(images []Image, image, app, canary string) (Image, bool) {
	return NewIndex(images).App(image, app, canary)
}

// KustomizationNames are the file names kustomize reads in a directory,
// in its order of preference.
var KustomizationNames = konfig.RecognizedKustomizationFileNames()

// ErrNoKustomization means a directory holds none of KustomizationNames.
var ErrNoKustomization = errors.New("no kustomization file")

// FindKustomization returns the path of dir's kustomization file in fsys
// (kustomization.yaml, kustomization.yml or Kustomization, as kustomize
// accepts them). Two of them is an error, as it is for kustomize; none
// wraps ErrNoKustomization and names the default path.
func FindKustomization(fsys fs.FS, dir string) (string, error) {
	dir = path.Clean(dir)
	if err := inside(fsys, dir); err != nil {
		return "", err
	}
	var found []string
	for _, n := range KustomizationNames {
		p := path.Join(dir, n)
		switch _, err := fs.Stat(fsys, p); {
		case err == nil:
			found = append(found, p)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("look for the kustomization of %s: %w", dir, err)
		default:
			if err := inside(fsys, p); err != nil {
				return "", err
			}
		}
	}
	switch len(found) {
	case 0:
		return path.Join(dir, KustomizationNames[0]), fmt.Errorf("%s: %w (%s)", dir, ErrNoKustomization, strings.Join(KustomizationNames, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s has %d kustomization files (%s): kustomize refuses that too; keep one", dir, len(found), strings.Join(found, ", "))
}

// inside refuses a name that exists as a symbolic link but reads as
// nothing: a link that leaves the repository (or points nowhere) must not
// pass for an absent overlay, which ferry would fill in. A filesystem
// without links (fs.ReadLinkFS) has nothing to refuse.
func inside(fsys fs.FS, name string) error {
	if _, err := fs.Stat(fsys, name); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, ok := fsys.(fs.ReadLinkFS); !ok {
		return nil
	}
	if info, err := fs.Lstat(fsys, name); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		target, _ := fs.ReadLink(fsys, name)
		return fmt.Errorf("%s is a symbolic link to %q, which leaves the repository or points nowhere", name, target)
	}
	// A link higher up (overlays/qa -> ../../elsewhere) hides the name too.
	if parent := path.Dir(name); parent != "." && parent != name {
		return inside(fsys, parent)
	}
	return nil
}
