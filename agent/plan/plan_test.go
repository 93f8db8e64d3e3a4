package plan

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/overlays"
)

const testPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: 127.0.0.1:5000/shop/cart, tags: {digest: latest}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  pullRequest: true}
  - {name: prod, overlay: overlays/prod, from: ppd}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

func v(tag, digest string) ledger.Version { return ledger.Version{Tag: tag, Digest: digest} }

// fleetState builds a state where env -> checkout's version; a missing
// entry leaves the env without the app, an "ERR" tag makes the overlay
// unreadable.
func fleetState(versions map[string]ledger.Version) *state.State {
	st := &state.State{Envs: map[string]*state.Env{}}
	for _, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
		es := &state.Env{Path: "overlays/" + env + "/kustomization.yaml", Data: []byte("{}")}
		if ver, ok := versions[env]; ok {
			if ver.Tag == "ERR" {
				es.Err = errors.New("overlays/" + env + "/kustomization.yaml:3: images is not a list")
			} else {
				es.Images = []overlays.Image{{Name: "registry.example/shop/checkout", NewName: "127.0.0.1:5000/shop/checkout", NewTag: ver.Tag, Digest: ver.Digest}}
			}
		}
		st.Envs[env] = es
	}
	return st
}

func TestDecide(t *testing.T) {
	regOK := Candidates{"checkout": {Version: v("1.2.0", "sha256:b")}}
	tests := []struct {
		name     string
		env      string
		state    map[string]ledger.Version
		cands    Candidates
		promoted []ledger.Version // earlier ferry promotions of checkout into env
		action   Action
		reason   string
	}{
		{"registry has newer", "dev", map[string]ledger.Version{"dev": v("1.1.0", "sha256:a")}, regOK, nil, ActionPromote, "registry has 1.2.0@sha256:b"},
		{"placeholder tag is replaced", "dev", map[string]ledger.Version{"dev": v("0.0.0", "")}, regOK, nil, ActionPromote, "registry has"},
		{"no entry yet", "dev", map[string]ledger.Version{}, regOK, nil, ActionPromote, "registry has"},
		{"up to date", "dev", map[string]ledger.Version{"dev": v("1.2.0", "sha256:b")}, regOK, nil, ActionNone, "up to date"},
		// A person's overlay that pins the tag without a digest runs that version (issue 17).
		{"tag pinned without a digest", "dev", map[string]ledger.Version{"dev": v("1.2.0", "")}, regOK, nil, ActionNone, "up to date"},
		{"same tag, new digest", "dev", map[string]ledger.Version{"dev": v("1.2.0", "sha256:a")}, regOK, nil, ActionPromote, "registry has"},
		{"human pinned a newer version", "dev", map[string]ledger.Version{"dev": v("2.0.0", "sha256:z")}, regOK, nil, ActionNone, "runs 2.0.0, newer than candidate 1.2.0"},
		{"registry failed", "dev", map[string]ledger.Version{"dev": v("1.1.0", "")}, Candidates{"checkout": {Err: errors.New("list tags: 503")}}, nil, ActionError, "list tags: 503"},
		{"registry slow: no error, no move", "dev", map[string]ledger.Version{"dev": v("1.1.0", "")}, Candidates{"checkout": {Pending: true, Err: errors.New("has not answered yet")}}, nil, ActionNone, "has not answered yet"},
		{"registry not asked", "dev", map[string]ledger.Version{"dev": v("1.1.0", "")}, Candidates{}, nil, ActionNone, "not polled"},
		{"from env has newer", "qa", map[string]ledger.Version{"dev": v("1.2.0", "sha256:b"), "qa": v("1.1.0", "sha256:a")}, nil, nil, ActionPromote, "dev has 1.2.0"},
		{"from env runs a placeholder", "qa", map[string]ledger.Version{"dev": v("0.0.0", ""), "qa": v("1.1.0", "sha256:a")}, nil, nil, ActionNone, "never picks"},
		{"from env runs nothing", "qa", map[string]ledger.Version{"qa": v("1.1.0", "sha256:a")}, nil, nil, ActionNone, "dev runs no version of checkout"},
		{"reverted by a person: not again", "qa", map[string]ledger.Version{"dev": v("1.2.0", "sha256:b"), "qa": v("1.1.0", "sha256:a")}, nil, []ledger.Version{v("1.2.0", "sha256:b")}, ActionNone, "promoted to qa before"},
		{"pull request env waits", "ppd", map[string]ledger.Version{"qa": v("1.2.0", "sha256:b"), "ppd": v("1.1.0", "sha256:a")}, nil, nil, ActionWait, "pull-request"},
		{"manual env waits", "prod", map[string]ledger.Version{"ppd": v("1.2.0", "sha256:b"), "prod": v("1.1.0", "sha256:a")}, nil, nil, ActionWait, "manual environment"},
		{"mirror follows a downgrade", "dr", map[string]ledger.Version{"prod": v("1.1.0", "sha256:a"), "dr": v("1.2.0", "sha256:b")}, nil, nil, ActionPromote, "mirror prod"},
		{"mirror in step", "dr", map[string]ledger.Version{"prod": v("1.1.0", "sha256:a"), "dr": v("1.1.0", "sha256:a")}, nil, nil, ActionNone, "up to date"},
		{"unreadable overlay", "qa", map[string]ledger.Version{"dev": v("1.2.0", "sha256:b"), "qa": v("ERR", "")}, nil, nil, ActionError, "images is not a list"},
		{"unreadable source", "qa", map[string]ledger.Version{"dev": v("ERR", ""), "qa": v("1.1.0", "")}, nil, nil, ActionError, "source dev is unreadable"},
	}
	p, err := config.Parse("ferry.yaml", []byte(testPipeline))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := state.NewHistory()
			for _, ver := range tc.promoted {
				h.Record("checkout", tc.env, ver)
			}
			pl, err := New(p, nil, nil, h, false)
			if err != nil {
				t.Fatal(err)
			}
			app, _ := p.App("checkout")
			env, _ := p.Env(tc.env)
			got := pl.Decide(context.Background(), fleetState(tc.state), tc.cands, app, env)
			if got.Action != tc.action || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("Decide = %s %q, want %s containing %q", got.Action, got.Reason, tc.action, tc.reason)
			}
		})
	}
}
