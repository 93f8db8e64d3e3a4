package plan

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
)

// TestDecideUnverifiedSource: under verifyCommits require a version a
// person set by an unsigned commit is not the source's: the next
// environment, a DR mirror included, gets no candidate from it, and the
// reason names the commit, its author and why. Under warn it moves, and
// the step says it is unverified.
func TestDecideUnverifiedSource(t *testing.T) {
	cfg := checkoutPipeline(t, `  - {name: prod, overlay: overlays/prod, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`)
	for _, mode := range []string{state.VerifyRequire, state.VerifyWarn} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			repo := fleettest.Clone(t, fleettest.Remote(t, "plan-signed"), "bob")
			when := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			fleettest.Push(t, repo, map[string][]byte{"overlays/prod/kustomization.yaml": overlay("1.1.0"), "overlays/dr/kustomization.yaml": overlay("1.1.0"),
				".ferry/allowed_signers": []byte("# nobody yet\n")}, "seed\n", when)
			bad := fleettest.Push(t, repo, map[string][]byte{"overlays/prod/kustomization.yaml": overlay("1.2.0")}, "hand-promote\n", when.Add(time.Minute))
			p, err := New(cfg, repo, nil, state.NewHistory(), false)
			if err != nil {
				t.Fatal(err)
			}
			p.Signatures = state.NewSignatures(config.VerifyCommits{Mode: mode, AllowedSigners: ".ferry/allowed_signers"}, repo, nil, "ferry@example.com", nil)
			st := state.Read(cfg, bad, nil)
			app, _ := cfg.App("checkout")
			dr, _ := cfg.Env("dr")
			s := p.Decide(ctx, st, nil, app, dr)
			if mode == state.VerifyWarn {
				if s.Action != ActionPromote || !strings.Contains(s.Unverified, bad.Hash()[:12]) {
					t.Fatalf("warn: %+v", s)
				}
				return
			}
			if s.Action != ActionHold || !s.Candidate.IsZero() {
				t.Fatalf("require: %+v", s)
			}
			for _, want := range []string{"checkout 1.2.0 in prod is not taken", bad.Hash()[:12], "bob@example.com", "not signed"} {
				if !strings.Contains(s.Reason, want) {
					t.Errorf("reason %q does not say %q", s.Reason, want)
				}
			}
		})
	}
}

// TestDecideAssumedSource (red team): with dev -> qa (auto) -> dr (mirror:
// qa) under require, `ferry plan` assumes qa takes dev's version in this
// pass; no commit has set it yet, but ferry's own signed one will, so dr
// follows it in the plan as it does in `ferry run --once`. What qa runs
// by a person's unsigned commit still holds dr.
func TestDecideAssumedSource(t *testing.T) {
	cfg := checkoutPipeline(t, `  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
  - {name: dr,  overlay: overlays/dr,  mirror: qa}
`)
	ctx := context.Background()
	repo := fleettest.Clone(t, fleettest.Remote(t, "plan-assumed"), "bob")
	when := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	head := fleettest.Push(t, repo, map[string][]byte{"overlays/dev/kustomization.yaml": overlay("1.4.0"),
		"overlays/qa/kustomization.yaml": overlay("1.3.0"), "overlays/dr/kustomization.yaml": overlay("1.3.0"),
		".ferry/allowed_signers": []byte("# nobody yet\n")}, "seed\n", when)
	p, err := New(cfg, repo, nil, state.NewHistory(), false)
	if err != nil {
		t.Fatal(err)
	}
	p.Signatures = state.NewSignatures(config.VerifyCommits{Mode: state.VerifyRequire, AllowedSigners: ".ferry/allowed_signers"}, repo, nil, "ferry@example.com", nil)
	app, _ := cfg.App("checkout")
	qa, _ := cfg.Env("qa")
	dr, _ := cfg.Env("dr")
	st := state.Read(cfg, head, nil)

	planned := st.Assume(qa, app, ledger.Version{Tag: "1.4.0"})
	if s := p.Decide(ctx, planned, nil, app, dr); s.Action != ActionPromote || s.Candidate.Tag != "1.4.0" || s.Unverified != "" {
		t.Fatalf("dr after qa's planned promotion: %+v", s)
	}
	// Assume changes a copy: qa's version by bob's unsigned seed still holds dr.
	if s := p.Decide(ctx, st, nil, app, dr); s.Action != ActionHold || !strings.Contains(s.Reason, "not taken") {
		t.Fatalf("dr on bob's unsigned qa version: %+v", s)
	}
	// Assumed names exactly the environments Assume set, through later copies.
	other := planned.Assume(dr, app, ledger.Version{Tag: "1.4.0"})
	if !other.Assumed(app, "qa") || other.Assumed(app, "dev") {
		t.Fatal("Assumed does not name exactly the environments assumed")
	}
}

// TestDecideUnsignedFreezeChange (red team): under require, a person's
// unsigned commit to .ferry/freeze.yaml (here lifting a freeze) moves
// nothing until a verified commit changes it; warn lets it be.
func TestDecideUnsignedFreezeChange(t *testing.T) {
	cfg := checkoutPipeline(t, `  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
`)
	const freezes = "apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n"
	for _, mode := range []string{state.VerifyRequire, state.VerifyWarn} {
		t.Run(mode, func(t *testing.T) {
			repo := fleettest.Clone(t, fleettest.Remote(t, "plan-freeze"), "bob")
			when := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
			fleettest.Push(t, repo, map[string][]byte{"overlays/dev/kustomization.yaml": overlay("1.1.0"), "overlays/qa/kustomization.yaml": overlay("1.0.0"),
				".ferry/allowed_signers": []byte("# nobody yet\n"), ".ferry/freeze.yaml": []byte(freezes + "- {name: audit, envs: [qa], reason: audit}\n")}, "seed\n", when)
			lifted := fleettest.Push(t, repo, map[string][]byte{".ferry/freeze.yaml": []byte(freezes + "[]\n")}, "lift the freeze\n", when.Add(time.Minute))
			p, err := New(cfg, repo, nil, state.NewHistory(), false)
			if err != nil {
				t.Fatal(err)
			}
			p.Signatures = state.NewSignatures(config.VerifyCommits{Mode: mode, AllowedSigners: ".ferry/allowed_signers"}, repo, nil, "ferry@example.com", nil)
			app, _ := cfg.App("checkout")
			qa, _ := cfg.Env("qa")
			s := p.Decide(context.Background(), state.Read(cfg, lifted, nil), nil, app, qa)
			if mode == state.VerifyWarn {
				if s.Action == ActionError {
					t.Fatalf("warn: %+v", s)
				}
				return
			}
			if s.Action != ActionError {
				t.Fatalf("require: %+v", s)
			}
			for _, want := range []string{".ferry/freeze.yaml was last changed by an unverified commit (commit " + lifted.Hash()[:12], "bob@example.com", "no promotion until a verified commit changes it"} {
				if !strings.Contains(s.Reason, want) {
					t.Errorf("reason %q does not say %q", s.Reason, want)
				}
			}
		})
	}
}

// checkoutPipeline is one app, checkout, through envs (YAML list items).
func checkoutPipeline(t *testing.T, envs string) *config.Pipeline {
	t.Helper()
	cfg, err := config.Parse("ferry.yaml", []byte(`apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: "file:///tmp/fleet.git"}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
`+envs))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// overlay is an overlay's kustomization naming checkout at tag.
func overlay(tag string) []byte {
	return []byte("images:\n- name: 127.0.0.1:5000/shop/checkout\n  newTag: " + tag + "\n")
}
