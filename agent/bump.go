package agent

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/overlays"
)

// bump returns the env's kustomization.yaml with app set to v, after proving
// that the overlay still builds and that the rendered workloads use v.
func bump(snap *fleet.Snapshot, es *envState, app *config.App, env *config.Environment, v Version) ([]byte, error) {
	return bumpEntry(snap, es, app, env, "", v)
}

// promotionEntry is the images: entry a promotion into env writes: the
// canary's in a progressively delivered env (its later steps move the
// traffic, its last the stable entry), else "" for the app's own.
func promotionEntry(es *envState, app *config.App, env *config.Environment) string {
	if env.Canary == nil {
		return ""
	}
	if im, ok := es.entry(app); ok {
		return im.Name + canarySuffix
	}
	return ""
}

// bumpEntry is bump for a named images: entry ("" is the app's own).
func bumpEntry(snap *fleet.Snapshot, es *envState, app *config.App, env *config.Environment, name string, v Version) ([]byte, error) {
	if es.data == nil {
		return nil, fmt.Errorf("overlay %s has no kustomization.yaml at %s; not committed", env.Overlay, shortHash(snap.Hash()))
	}
	if name == "" {
		name = app.Image
		if im, ok := es.entry(app); ok {
			name = im.Name
		}
	}
	data, changed, err := overlays.SetImage(es.data, overlays.Image{Name: name, NewTag: v.Tag, Digest: v.Digest})
	if err != nil {
		return nil, fmt.Errorf("bump %s in %s: %w", app.Name, es.path, err)
	}
	if !changed {
		return nil, fmt.Errorf("bump %s in %s: the edit changed nothing", app.Name, es.path)
	}
	rendered, err := overlays.Render(withFile(snap.FS(), es.path, data), path.Clean(env.Overlay))
	if err != nil {
		return nil, fmt.Errorf("overlay %s does not build with %s %s; not committed: %w", env.Overlay, app.Name, v, err)
	}
	images, err := overlays.RenderImages(rendered)
	if err != nil {
		return nil, fmt.Errorf("read images rendered from %s: %w", env.Overlay, err)
	}
	if !usesVersion(images, v) {
		return nil, fmt.Errorf("overlay %s renders no workload with %s %s (images entry %q matches no container image); not committed",
			env.Overlay, app.Name, v, name)
	}
	return data, nil
}

func usesVersion(images []string, v Version) bool {
	for _, im := range images {
		switch {
		case v.Digest != "" && strings.HasSuffix(im, "@"+v.Digest):
			return true
		case v.Digest == "" && strings.HasSuffix(im, ":"+v.Tag):
			return true
		}
	}
	return false
}

// withFile is fsys with one file replaced, so an edit renders before it is committed.
func withFile(fsys fs.FS, name string, data []byte) fs.FS {
	return overlayFS{base: fsys, name: name, file: &fstest.MapFile{Data: data, Mode: 0o644, ModTime: time.Time{}}}
}

type overlayFS struct {
	base fs.FS
	name string
	file *fstest.MapFile
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if name == o.name {
		return fstest.MapFS{name: o.file}.Open(name)
	}
	return o.base.Open(name)
}

// ReadFile lets fs.ReadFile skip a Stat.
func (o overlayFS) ReadFile(name string) ([]byte, error) {
	if name == o.name {
		return append([]byte(nil), o.file.Data...), nil
	}
	return fs.ReadFile(o.base, name)
}

// ReadDir keeps directory listings consistent with the replaced file.
func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(o.base, name)
}
