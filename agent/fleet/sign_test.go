package fleet

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// Every commit a Repo with a Signer writes (a promotion, a merge, a note)
// passes `git verify-commit`, for SSH and OpenPGP keys, and reads back
// through SignedCommit as gitsig verifies it.
func TestSignedCommitsVerifyWithGit(t *testing.T) {
	t.Parallel()
	ssh := gitsigtest.NewSSHKey(t, "ferry@example.com")
	sshSigner, err := gitsig.LoadSSHSigner(ssh.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		signer gitsig.Signer
		verify func(dir, commit string) error
		trust  gitsig.Signers
	}
	allowed, err := gitsig.ParseAllowedSigners("allowed_signers", []byte("ferry@example.com "+ssh.Public+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]tc{
		"ssh": {signer: sshSigner, trust: gitsig.Signers{SSH: allowed},
			verify: func(dir, commit string) error {
				return gitsigtest.VerifySSH(t, dir, commit, "ferry@example.com "+ssh.Public)
			}},
	}
	if gitsigtest.HaveGPG() {
		key := gitsigtest.NewGPGKey(t, "ferry <ferry@example.com>", "s3cret")
		passFile := t.TempDir() + "/pass"
		if err := writeFile(passFile, key.Passphrase); err != nil {
			t.Fatal(err)
		}
		pgp, err := gitsig.LoadOpenPGPSigner(key.SecretFile, passFile)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := gitsig.ParseKeyring("keyring.asc", []byte(key.Public))
		if err != nil {
			t.Fatal(err)
		}
		cases["openpgp"] = tc{signer: pgp, trust: gitsig.Signers{OpenPGP: ring},
			verify: func(dir, commit string) error { return gitsigtest.VerifyGPG(dir, commit, key) }}
	} else {
		t.Log("gpg is not installed: the OpenPGP case is skipped")
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, seedFiles)
			o := testOptions(t, f.fileURL())
			o.Signer = c.signer
			r := mustOpen(t, o)
			ctx := context.Background()
			base := mustFetch(t, r)
			s, err := r.Commit(base, map[string][]byte{"overlays/qa/kustomization.yaml": bump("1.4.2")}, promote("checkout", "qa", "1.4.2"), t0)
			if err != nil {
				t.Fatal(err)
			}
			m, err := r.CommitMerge(s, []*Snapshot{base}, map[string][]byte{"overlays/qa/kustomization.yaml": bump("1.4.3")}, "merge\n", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Push(ctx, m); err != nil {
				t.Fatal(err)
			}
			if err := r.EditNote(ctx, "refs/notes/ferry", m.Hash(), func(string) (string, bool) { return "verdict", true }, t0); err != nil {
				t.Fatal(err)
			}
			notes := strings.TrimSpace(git(t, f.bare, "rev-parse", "refs/notes/ferry"))
			for what, h := range map[string]string{"commit": s.Hash(), "merge": m.Hash(), "notes commit": notes} {
				if err := c.verify(f.bare, h); err != nil {
					t.Errorf("git verify-commit of the %s: %v", what, err)
				}
				sc, err := r.SignedCommit(h)
				if what == "notes commit" {
					continue // fetched into another ref; git verified it
				}
				if err != nil {
					t.Fatal(err)
				}
				res := c.trust.Verify(gitsig.Commit{Hash: h, Payload: sc.Payload, Signature: sc.Signature, Time: sc.Time})
				if !res.Verified || res.Signer == "" {
					t.Errorf("gitsig on the %s: %+v", what, res)
				}
			}
			// The object git stores carries the signature header.
			if raw := git(t, f.bare, "cat-file", "commit", s.Hash()); !strings.Contains(raw, "\ngpgsig -----BEGIN ") {
				t.Errorf("no gpgsig header:\n%s", raw)
			}
		})
	}
}

// Without a Signer nothing is signed, as before.
func TestUnsignedByDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	r := mustOpen(t, testOptions(t, f.fileURL()))
	base := mustFetch(t, r)
	s, err := r.Commit(base, map[string][]byte{"overlays/qa/kustomization.yaml": bump("1.4.2")}, promote("checkout", "qa", "1.4.2"), t0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := r.SignedCommit(s.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if sc.Signature != "" {
		t.Fatalf("signature %q without a Signer", sc.Signature)
	}
}

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }
