package gate

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

// TestPoliciesUnderVerifyCommits: a running gate keeps deciding with the
// policies it accepted when a person's unsigned commit changes them under
// require (and says so once), takes a change signed by a trusted key, and
// under warn takes the unsigned change with a warning.
func TestPoliciesUnderVerifyCommits(t *testing.T) {
	const strict = "package ferry.promotion\n\ndeny contains \"strict\" if true\n"
	const lax = "package ferry.promotion\n\ndeny contains \"never\" if false\n"
	const signedStrict = "package ferry.promotion\n\ndeny contains \"strict, signed\" if true\n"
	key := gitsigtest.NewSSHKey(t, "ferry")
	signer, err := gitsig.LoadSSHSigner(key.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("ferry.yaml", []byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: \"file:///tmp/fleet.git\"}\n"+
		"apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n"+
		"environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{state.VerifyRequire, state.VerifyWarn} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			remote := fleettest.Remote(t, "gate-signed")
			ferry, err := fleet.Open(ctx, fleet.Options{URL: remote.URL(), InMemory: true, Signer: signer,
				Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			bob := fleettest.Clone(t, remote, "bob")
			when := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
			fleettest.Push(t, ferry, map[string][]byte{"policies/p.rego": []byte(strict), ".ferry/allowed_signers": []byte("# none\n")}, "seed\n", when)
			var logs syncbuf.Buffer
			g := New(Options{Config: cfg, Log: ferry, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			g.SetSignatures(state.NewSignatures(config.VerifyCommits{Mode: mode, AllowedSigners: ".ferry/allowed_signers"}, ferry, signer, "ferry@example.com", nil))
			deny := func() string {
				t.Helper()
				snap, err := ferry.Fetch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				e, err := g.Policies(ctx, snap)
				if err != nil {
					t.Fatal(err)
				}
				d, err := e.Decide(ctx, map[string]any{"app": map[string]any{"name": "checkout", "image": "x"}, "environment": map[string]any{"name": "dev"},
					"candidate": map[string]any{"version": "1.0.0"}, "time": "2026-12-07T06:00:00Z"})
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(d.Deny, ",")
			}
			if got := deny(); got != "strict" {
				t.Fatalf("first bundle: deny %q", got)
			}
			fleettest.Push(t, bob, map[string][]byte{"policies/p.rego": []byte(lax)}, "relax the gate\n", when.Add(time.Minute))
			got, again := deny(), deny()
			if mode == state.VerifyWarn {
				if got != "" || !strings.Contains(logs.String(), "policies changed by an unverified commit") {
					t.Fatalf("warn: deny %q, logs:\n%s", got, logs.String())
				}
				return
			}
			if got != "strict" || again != "strict" || strings.Count(logs.String(), "policies changed by an unverified commit") != 1 ||
				!strings.Contains(logs.String(), "bob@example.com") {
				t.Fatalf("require: deny %q then %q, logs:\n%s", got, again, logs.String())
			}
			fleettest.Push(t, ferry, map[string][]byte{"policies/p.rego": []byte(signedStrict)}, "signed change\n", when.Add(2*time.Minute))
			if got := deny(); got != "strict, signed" {
				t.Fatalf("a signed change was not taken: deny %q", got)
			}
		})
	}
}
