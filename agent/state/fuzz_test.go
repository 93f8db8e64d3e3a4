package state

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/overlays"
)

// FuzzReadEnv commits a random blob as qa's kustomization (in memory, on
// the example fleet) and reads it as every step does. The state never
// panics; what it reads is what overlays.ReadImages reads; an overlay it
// cannot read is an error that names the file, with no version; and the
// environments the blob is not in are unaffected.
func FuzzReadEnv(f *testing.F) {
	files, err := overlays.ExampleFleet(registryHost)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"overlays/qa/kustomization.yaml", "overlays/prod/kustomization.yaml", "base/kustomization.yaml"} {
		f.Add(files[p])
	}
	f.Add([]byte("images:\n- name: 127.0.0.1:5000/shop/checkout\n  newTag: 1.2.0\n  digest: sha256:" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("images:\n- name: checkout\n  newTag: 1.0.0\n- name: checkout-canary\n  newTag: 2.0.0\n"))
	f.Add([]byte("\xef\xbb\xbfimages: [{name: checkout, newTag: '1.0'}]\n"))
	f.Add([]byte("images: &a\n- *a\n"))
	f.Add([]byte("images:\n- name: x\n  newTag: [1]\n"))
	f.Add([]byte{})

	cfg, err := config.Parse("ferry.yaml", []byte(pipeline))
	if err != nil {
		f.Fatal(err)
	}
	qa, _ := cfg.Env("qa")
	checkout, _ := cfg.App("checkout")
	repo := fleettest.Clone(f, fleettest.Remote(f, "state-fuzz"), "ferry")
	when := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	base, err := repo.Commit(nil, files, "seed\n", when)
	if err != nil {
		f.Fatal(err)
	}
	baseState := Read(cfg, base, nil)

	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := repo.Commit(base, map[string][]byte{"overlays/qa/kustomization.yaml": data}, "fuzz\n", when)
		if errors.Is(err, fleet.ErrNoChange) {
			snap = base
		} else if err != nil {
			t.Fatal(err)
		}
		e := ReadEnv(snap, qa)
		images, perr := overlays.ReadImages(data)
		switch {
		case e.Err == nil && perr != nil:
			t.Fatalf("ReadEnv read an overlay ReadImages refuses (%v)", perr)
		case e.Err != nil && perr == nil:
			t.Fatalf("ReadEnv refused an overlay ReadImages reads: %v", e.Err)
		case e.Err != nil:
			if !strings.Contains(e.Err.Error(), "overlays/qa/kustomization.yaml") {
				t.Fatalf("error %q does not name the file", e.Err)
			}
		default:
			if e.Path != "overlays/qa/kustomization.yaml" || string(e.Data) != string(data) || !reflect.DeepEqual(e.Images, images) {
				t.Fatalf("ReadEnv = %s %q %v; want the file as ReadImages reads it: %v", e.Path, e.Data, e.Images, images)
			}
			// The version is the app's entry, never a canary's.
			v := e.Version(checkout)
			im, ok := e.Entry(checkout)
			switch {
			case !ok && !v.IsZero():
				t.Fatalf("no entry, but version %v", v)
			case ok && (im.NewTag != v.Tag || im.Digest != v.Digest):
				t.Fatalf("entry %+v, but version %v", im, v)
			case ok && overlays.NewIndex(e.Images).IsCanary(im):
				t.Fatalf("the canary entry %+v was taken for the app's", im)
			}
		}
		st := Read(cfg, snap, nil)
		if (st.Envs["qa"].Err == nil) != (e.Err == nil) {
			t.Fatalf("Read and ReadEnv disagree on qa: %v / %v", st.Envs["qa"].Err, e.Err)
		}
		if st.Envs["qa"].Err != nil && !st.Version(checkout, "qa").IsZero() {
			t.Fatalf("an unreadable qa runs %v", st.Version(checkout, "qa"))
		}
		for _, name := range envNames {
			if name == "qa" {
				continue
			}
			if got, want := st.Version(checkout, name), baseState.Version(checkout, name); got != want || st.Envs[name].Err != nil {
				t.Fatalf("qa's blob changed %s: %v (%v), was %v", name, got, st.Envs[name].Err, want)
			}
		}
	})
}
