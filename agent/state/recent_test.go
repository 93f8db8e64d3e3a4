package state

import (
	"strings"
	"testing"
)

// An overlay whose blob did not change is not parsed again, and an error
// one state found (two environments sharing one file) does not stay on
// the overlay another state reads.
func TestRecentOverlays(t *testing.T) {
	cfg := testConfig(t)
	files := exampleFleet(t)
	_, snap := newRepo(t, tree{files: files})
	st1, st2 := Read(cfg, snap, nil), Read(cfg, snap, nil)
	for _, name := range []string{"dev", "qa", "prod"} {
		if st1.Envs[name] != st2.Envs[name] {
			t.Errorf("%s: read twice at one commit, parsed twice", name)
		}
	}
	edited := exampleFleet(t)
	edited["overlays/qa/kustomization.yaml"] = strings.Replace(edited["overlays/qa/kustomization.yaml"], "newTag: 1.0.0", "newTag: 1.1.0", 1)
	_, snap2 := newRepo(t, tree{files: edited})
	st3 := Read(cfg, snap2, nil)
	if st3.Envs["dev"] != st1.Envs["dev"] {
		t.Error("dev's overlay is unchanged in the new commit, yet parsed again")
	}
	if st3.Envs["qa"] == st1.Envs["qa"] || st3.Version(app(cfg), "qa").Tag != "1.1.0" {
		t.Errorf("qa's changed overlay reads %s, want 1.1.0", st3.Version(app(cfg), "qa").Tag)
	}

	// qa's kustomization a link to dev's: both refused at that commit...
	_, shared := newRepo(t, tree{files: files, links: map[string]string{"overlays/qa/kustomization.yaml": "../dev/kustomization.yaml"},
		drop: []string{"overlays/qa/kustomization.yaml"}})
	if st := Read(cfg, shared, nil); st.Envs["dev"].Err == nil || !strings.Contains(st.Envs["dev"].Err.Error(), "one file") {
		t.Fatalf("dev's error = %v, want the shared file named", st.Envs["dev"].Err)
	}
	// ...and dev, the same blob, fine again at a commit without the link.
	if err := Read(cfg, snap, nil).Envs["dev"].Err; err != nil {
		t.Errorf("dev at a commit without the link: %v", err)
	}
}
