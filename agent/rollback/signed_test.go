package rollback

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
	"github.com/ferry-dev/ferry/overlays"
)

// signedClone is who's clone of the world's remote, signing every commit
// with key.
func (w *world) signedClone(who string, key gitsigtest.SSHKey) (*fleet.Repo, *gitsig.SSHSigner) {
	w.t.Helper()
	signer, err := gitsig.LoadSSHSigner(key.Private, "")
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := fleet.Open(w.ctx, fleet.Options{URL: w.remote.URL(), InMemory: true, Signer: signer,
		Author: fleet.Signature{Name: who, Email: who + "@example.com"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		w.t.Fatal(err)
	}
	return r, signer
}

// TestRollbackSkipsUnverifiedVersions (red team): bob sets qa to 1.2.0 by
// an unsigned commit, ferry then promotes alice's signed 1.3.0, and an
// alert fires for qa. Under git.verifyCommits require 1.2.0 never was qa's
// version: the rollback must not restore it (and sign it as ferry), but go
// back to alice's 1.1.0; with no verified earlier version it says so and
// writes nothing. Under warn it goes back to 1.2.0 and says the commit is
// unverified; off, as before.
func TestRollbackSkipsUnverifiedVersions(t *testing.T) {
	aliceKey, ferryKey := gitsigtest.NewSSHKey(t, "alice"), gitsigtest.NewSSHKey(t, "ferry")
	for _, tc := range []struct {
		name, mode  string
		aliceSigned bool // alice's signed 1.1.0 is in qa's history
		to          string
		wantReason  []string
		unverified  bool
	}{
		{name: "require", mode: state.VerifyRequire, aliceSigned: true, to: "1.1.0"},
		{name: "require/none verified", mode: state.VerifyRequire, to: "",
			wantReason: []string{"no earlier verified version of checkout in qa", "1.2.0 skipped", "by bob@example.com is not verified", "1.0.0 skipped", "nothing changed"}},
		{name: "warn", mode: state.VerifyWarn, aliceSigned: true, to: "1.2.0", unverified: true,
			wantReason: []string{"to 1.2.0", "1.2.0 is unverified (git.verifyCommits warn)", "by bob@example.com is not verified"}},
		{name: "off", mode: state.VerifyOff, aliceSigned: true, to: "1.2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			alice, _ := w.signedClone("alice", aliceKey)
			ferry, ferrySigner := w.signedClone("ferry", ferryKey)
			w.ferry = ferry
			clock := func() time.Time { return w.now }
			sigs := state.NewSignatures(config.VerifyCommits{Mode: tc.mode, AllowedSigners: ".ferry/allowed_signers"}, ferry, ferrySigner, "ferry@example.com", nil)
			w.rb = New(Options{Config: w.cfg, Publisher: publish.New(ferry, publish.Options{Backoff: time.Millisecond, Now: clock}),
				Log: ferry, Render: overlays.Render, Now: clock, Signatures: sigs,
				Deliveries: &canary.Deliveries{Config: w.cfg, Log: ferry, Render: overlays.Render, Now: clock}})
			bob := w.open("bob")

			fleettest.Push(t, alice, map[string][]byte{".ferry/allowed_signers": []byte("alice@example.com " + aliceKey.Public + "\n")}, "signers\n", w.tick())
			if tc.aliceSigned {
				w.set(alice, map[string]string{"qa": "1.1.0", "dr": "1.1.0"}, nil)
			}
			unsigned := w.set(bob, map[string]string{"qa": "1.2.0", "dr": "1.2.0"}, nil)
			w.set(alice, map[string]string{"dev": "1.3.0"}, nil)
			w.promote("qa", "1.3.0")
			before, _, _ := w.at()

			res := w.rollback(alert("fp-1", w.now, "1.3.0"))
			head, versions, rejected := w.at()
			if res.To.Tag != tc.to {
				t.Fatalf("rolled back to %q, want %q: %+v", res.To.Tag, tc.to, res)
			}
			for _, want := range tc.wantReason {
				if !strings.Contains(res.Reason, want) {
					t.Errorf("reason %q does not say %q", res.Reason, want)
				}
			}
			if got := strings.Contains(res.Unverified, ledger.ShortHash(unsigned)); got != tc.unverified {
				t.Errorf("unverified %q: names bob's commit %v, want %v", res.Unverified, got, tc.unverified)
			}
			if tc.to == "" {
				if head != before || res.Commit != "" || len(rejected) != 0 || versions["qa"] != "1.3.0" {
					t.Fatalf("no verified version, yet the rollback wrote: head %s (was %s), qa %s, rejected %v", head, before, versions["qa"], rejected)
				}
				return
			}
			if res.Commit != head || versions["qa"] != tc.to || versions["dr"] != tc.to || strings.Join(rejected, ",") != "1.3.0" {
				t.Fatalf("after the rollback: head %s (commit %s), versions %v, rejected %v", head, res.Commit, versions, rejected)
			}
		})
	}
}
