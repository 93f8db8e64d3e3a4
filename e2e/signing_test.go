//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// signedConfig is a two-environment pipeline whose ferry.yaml signs
// ferry's commits with SIGNING and checks people's with VERIFY.
const signedConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  branch: main
  author: {name: ferry, email: ferry@example.com}
  signing: SIGNING
  verifyCommits: VERIFY
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
`

func signedFleet(t *testing.T, regHost, signing, verify string, extra map[string]string) *fleetRepo {
	t.Helper()
	cfg := strings.NewReplacer("SIGNING", signing, "VERIFY", verify).Replace(signedConfig)
	return startFleetWith(t, regHost, cfg, extra)
}

// TestSignedPromotions: with git.signing, every commit `ferry run --once`
// pushes passes `git verify-commit`: SSH against an allowed-signers file,
// OpenPGP against gpg's keyring.
func TestSignedPromotions(t *testing.T) {
	reg := startRegistry(t, "", "")
	reg.push(t, "shop/checkout", "1.0.0")
	ssh := gitsigtest.NewSSHKey(t, "ferry@example.com")
	type variant struct {
		signing string
		verify  func(f *fleetRepo, commit string) error
	}
	variants := map[string]variant{
		"ssh": {signing: "{sshKeyFile: " + ssh.Private + "}", verify: func(f *fleetRepo, c string) error {
			return gitsigtest.VerifySSH(t, f.bare, c, "ferry@example.com "+ssh.Public)
		}},
	}
	if gitsigtest.HaveGPG() {
		key := gitsigtest.NewGPGKey(t, "ferry <ferry@example.com>", "correct horse")
		pass := writeFile(t, filepath.Join(t.TempDir(), "passphrase"), key.Passphrase+"\n")
		variants["openpgp"] = variant{signing: "{openpgpKeyFile: " + key.SecretFile + ", passphraseFile: " + pass + "}",
			verify: func(f *fleetRepo, c string) error { return gitsigtest.VerifyGPG(f.bare, c, key) }}
	} else {
		t.Log("gpg is not installed: only the SSH variant runs")
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			fleet := signedFleet(t, reg.host, v.signing, "{mode: off}", nil)
			out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
			if code != 0 {
				t.Fatalf("ferry run --once exited %d:\n%s", code, out)
			}
			if got := fleet.promotions(t); len(got) != 2 {
				t.Fatalf("promotions %q, want dev and qa", got)
			}
			commits := strings.Fields(fleet.git(t, "log", "--format=%H", "--author=ferry@example.com", "main"))
			if len(commits) != 2 {
				t.Fatalf("ferry's commits: %q", commits)
			}
			for _, c := range commits {
				if err := v.verify(fleet, c); err != nil {
					t.Errorf("git verify-commit %s: %v", c, err)
				}
			}
			// The seed, a person's unsigned commit, does not verify: the check is real.
			seed := strings.TrimSpace(fleet.git(t, "rev-list", "--max-parents=0", "main"))
			if v.verify(fleet, seed) == nil {
				t.Fatal("the unsigned seed commit verified")
			}
		})
	}
}

// personCommit is a person's change to the fleet repo with the git CLI,
// signed with key when it is set.
func personCommit(t *testing.T, f *fleetRepo, key *gitsigtest.SSHKey, msg string, edit func(dir string)) string {
	t.Helper()
	dir := t.TempDir()
	env := []string{"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.com", "GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.com"}
	gitsigtest.Run(t, "", env, "git", "clone", "-q", f.bare, dir)
	edit(dir)
	args := []string{"commit", "-qam", msg}
	if key != nil {
		args = append(gitsigtest.SSHSignArgs(*key), append(args, "-S")...)
	}
	gitsigtest.Run(t, dir, env, "git", args...)
	gitsigtest.Run(t, dir, env, "git", "push", "-q", "origin", "HEAD:main")
	return strings.TrimSpace(gitsigtest.Run(t, dir, nil, "git", "rev-parse", "HEAD"))
}

// setDev rewrites dev's checkout entry to tag and digest, by hand.
func setDev(t *testing.T, from, to, fromDigest, toDigest string) func(dir string) {
	return func(dir string) {
		p := filepath.Join(dir, "overlays/dev/kustomization.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.NewReplacer("newTag: "+from, "newTag: "+to, fromDigest, toDigest).Replace(string(b))
		if s == string(b) {
			t.Fatalf("dev overlay has no %s:\n%s", from, b)
		}
		writeFile(t, p, s)
	}
}

// signedByPolicy warns with what input.current.signed_by holds, and
// denies a move whose current version comes without it.
const signedByPolicy = `package ferry.promotion

deny contains "input.current.signed_by is missing" if {
	input.current
	not input.current.signed_by
}

warn contains msg if {
	s := input.current.signed_by
	msg := sprintf("signed_by verified=%v signer=%s key=%s commit=%s", [s.verified, object.get(s, "signer", ""), object.get(s, "key", ""), s.commit])
}
`

// TestUnsignedManualPromotion: a person's unsigned change of dev's version
// is not promoted to qa under verifyCommits require (the plan names the
// commit, its author and why), while a change signed by an allowed signer
// is; under warn the unsigned one is promoted with a warning.
func TestUnsignedManualPromotion(t *testing.T) {
	alice := gitsigtest.NewSSHKey(t, "alice")
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	for _, mode := range []string{"require", "warn"} {
		t.Run(mode, func(t *testing.T) {
			reg := startRegistry(t, "", "")
			d100 := reg.push(t, "shop/checkout", "1.0.0")
			fleet := signedFleet(t, reg.host, "{sshKeyFile: "+ferryKey.Private+"}",
				"{mode: "+mode+", allowedSigners: .ferry/allowed_signers}",
				map[string]string{".ferry/allowed_signers": "# people who may set versions by hand\nalice@example.com " + alice.Public + "\n",
					"policies/signed_by.rego": signedByPolicy})
			work := t.TempDir()
			run := func() string {
				t.Helper()
				out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work)
				if code != 0 {
					t.Fatalf("ferry run --once exited %d:\n%s", code, out)
				}
				return out
			}
			// ferry's own signed promotions verify without being listed.
			run()
			if !strings.Contains(fleet.show(t, "overlays/qa/kustomization.yaml"), "newTag: 1.0.0") {
				t.Fatalf("ferry's own dev promotion did not move on to qa:\n%s", fleet.show(t, "overlays/qa/kustomization.yaml"))
			}
			// A person's unsigned manual promotion in dev.
			d110 := reg.push(t, "shop/checkout", "1.1.0")
			unsigned := personCommit(t, fleet, nil, "hand-promote 1.1.0 to dev", setDev(t, "1.0.0", "1.1.0", d100, d110))
			out := run()
			qa := fleet.show(t, "overlays/qa/kustomization.yaml")
			if !strings.Contains(out, "unverified commit") || !strings.Contains(out, unsigned[:12]) || !strings.Contains(out, "alice@example.com") {
				t.Errorf("no warning naming the unsigned commit and its author:\n%s", out)
			}
			if mode == "warn" {
				if !strings.Contains(qa, "newTag: 1.1.0") {
					t.Fatalf("warn: the unsigned version did not move to qa:\n%s\n%s", qa, out)
				}
				return
			}
			if strings.Contains(qa, "newTag: 1.1.0") {
				t.Fatalf("require: the unsigned version moved to qa:\n%s", qa)
			}
			plan, _ := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
			for _, want := range []string{"not taken", unsigned[:12], "alice@example.com", "not signed"} {
				if !strings.Contains(plan, want) {
					t.Errorf("ferry plan does not say %q:\n%s", want, plan)
				}
			}
			// Signed by an allowed signer, the same kind of change moves on.
			d120 := reg.push(t, "shop/checkout", "1.2.0")
			personCommit(t, fleet, &alice, "hand-promote 1.2.0 to dev", setDev(t, "1.1.0", "1.2.0", d110, d120))
			out = run()
			// The policies saw who signed qa's current version: ferry's own commit.
			if !strings.Contains(out, "signed_by verified=true signer=ferry@example.com key=SHA256:") {
				t.Errorf("the policy did not see input.current.signed_by:\n%s", out)
			}
			if qa := fleet.show(t, "overlays/qa/kustomization.yaml"); !strings.Contains(qa, "newTag: 1.2.0") {
				t.Fatalf("require: alice's signed version did not move to qa:\n%s", qa)
			}
		})
	}
}

// TestBadSigningKey: a signing key ferry cannot use stops it at start,
// naming the file and the reason, never the key.
func TestBadSigningKey(t *testing.T) {
	reg := startRegistry(t, "", "")
	dir := t.TempDir()
	enc := filepath.Join(dir, "id_enc")
	gitsigtest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret-passphrase", "-f", enc)
	junk := writeFile(t, filepath.Join(dir, "junk"), "not a key\n")
	weak := filepath.Join(dir, "id_rsa1024")
	gitsigtest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", weak)
	for key, want := range map[string]string{enc: "the key is encrypted and no passphraseFile is given", junk: "not an SSH private key",
		weak: "an RSA key of 1024 bits is too weak to sign with"} {
		fleet := signedFleet(t, reg.host, "{sshKeyFile: "+key+"}", "{mode: off}", nil)
		out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
		if code == 0 || !strings.Contains(out, key) || !strings.Contains(out, want) {
			t.Errorf("exit %d, want an error naming %s and %q:\n%s", code, key, want, out)
		}
		if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "s3cret") {
			t.Errorf("the output shows a secret:\n%s", out)
		}
		if strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "promote") {
			t.Error("ferry promoted without its signing key")
		}
	}
}

// TestUnsignedConfigChange: a running ferry whose ferry.yaml says
// verifyCommits require keeps that configuration when a person's unsigned
// commit changes ferry.yaml (here: the check switched off, and an unsigned
// version put into dev in the same commit); nothing moves on from it. A
// change signed by an allowed signer is taken.
func TestUnsignedConfigChange(t *testing.T) {
	alice := gitsigtest.NewSSHKey(t, "alice")
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	reg := startRegistry(t, "", "")
	d100 := reg.push(t, "shop/checkout", "1.0.0")
	fleet := signedFleet(t, reg.host, "{sshKeyFile: "+ferryKey.Private+"}", "{mode: require, allowedSigners: .ferry/allowed_signers}",
		map[string]string{".ferry/allowed_signers": "alice@example.com " + alice.Public + "\n"})
	setConfig := func(from, to string) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, "ferry.yaml")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(b), from, to, 1)
			if s == string(b) {
				t.Fatalf("ferry.yaml has no %q", from)
			}
			writeFile(t, p, s)
		}
	}
	// A pass a second, so the reload is seen within the test.
	personCommit(t, fleet, &alice, "passes every second", setConfig("  branch: main\n", "  branch: main\n  interval: 1s\n"))
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir())
	waitFor(t, time.Minute, "1.0.0 in qa", func() bool {
		return strings.Contains(fleet.show(t, "overlays/qa/kustomization.yaml"), "newTag: 1.0.0")
	})

	d110 := reg.push(t, "shop/checkout", "1.1.0")
	unsigned := personCommit(t, fleet, nil, "turn the check off and hand-promote 1.1.0", func(dir string) {
		setConfig("verifyCommits: {mode: require", "verifyCommits: {mode: off")(dir)
		setDev(t, "1.0.0", "1.1.0", d100, d110)(dir)
	})
	waitFor(t, time.Minute, "the refusal of the unsigned ferry.yaml", func() bool {
		return strings.Contains(p.out.String(), "new ferry.yaml refused; keeping the previous one") && strings.Contains(p.out.String(), unsigned[:12])
	})
	time.Sleep(3 * time.Second) // three more passes under the running configuration
	if qa := fleet.show(t, "overlays/qa/kustomization.yaml"); strings.Contains(qa, "newTag: 1.1.0") {
		t.Fatalf("the unsigned commit turned the check off: 1.1.0 moved to qa\n%s", p.out.String())
	}

	// An allowed signer's change of ferry.yaml is taken.
	personCommit(t, fleet, &alice, "warn instead", setConfig("verifyCommits: {mode: off", "verifyCommits: {mode: warn"))
	waitFor(t, time.Minute, "the reload of the signed ferry.yaml", func() bool {
		return strings.Contains(p.out.String(), "ferry.yaml changed; reloaded")
	})
	waitFor(t, time.Minute, "1.1.0 in qa under warn", func() bool {
		return strings.Contains(fleet.show(t, "overlays/qa/kustomization.yaml"), "newTag: 1.1.0")
	})
}

// TestSignedMirrorPlanAgrees (red team): with dev -> qa (auto) -> dr
// (mirror: qa) under verifyCommits require, `ferry plan` shows dr following
// the version qa takes in the same pass (ferry's own signed promotion, not
// yet written), as `ferry run --once` then does.
func TestSignedMirrorPlanAgrees(t *testing.T) {
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	reg := startRegistry(t, "", "")
	reg.push(t, "shop/checkout", "1.0.0")
	cfg := strings.NewReplacer("SIGNING", "{sshKeyFile: "+ferryKey.Private+"}",
		"VERIFY", "{mode: require, allowedSigners: .ferry/allowed_signers}").Replace(signedConfig) +
		"  - {name: dr,  overlay: overlays/dr,  mirror: qa}\n"
	fleet := startFleetWith(t, reg.host, cfg, map[string]string{".ferry/allowed_signers": "# nobody yet\n"})
	plan, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, plan)
	}
	if strings.Contains(plan, "does not show which commit") || !planSays(plan, "dr", "promote") {
		t.Fatalf("ferry plan does not show dr following qa:\n%s", plan)
	}
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry run --once exited %d:\n%s", code, out)
	}
	if dr := fleet.show(t, "overlays/dr/kustomization.yaml"); !strings.Contains(dr, "newTag: 1.0.0") {
		t.Fatalf("ferry run --once did not mirror qa's 1.0.0 to dr:\n%s\n%s", dr, out)
	}
}

// planSays reports whether a line of plan's table for env shows action.
func planSays(plan, env, action string) bool {
	for _, line := range strings.Split(plan, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == env && strings.Contains(line, action) {
			return true
		}
	}
	return false
}

// TestUnsignedPolicyChange (red team): under verifyCommits require, a
// person's unsigned commit that opens a gate in policies/ (and touches
// ferry.yaml, which once made ferry rebuild its agent and trust the new
// policies) leaves the running gate as it was, also after a later signed
// ferry.yaml change; a signed policy change opens it.
func TestUnsignedPolicyChange(t *testing.T) {
	const closed = "package ferry.promotion\n\ndeny contains \"qa is closed\" if input.environment.name == \"qa\"\n"
	const open = "package ferry.promotion\n\ndeny contains \"never\" if false\n"
	alice := gitsigtest.NewSSHKey(t, "alice")
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	reg := startRegistry(t, "", "")
	reg.push(t, "shop/checkout", "1.0.0")
	fleet := signedFleet(t, reg.host, "{sshKeyFile: "+ferryKey.Private+"}", "{mode: require, allowedSigners: .ferry/allowed_signers}",
		map[string]string{".ferry/allowed_signers": "alice@example.com " + alice.Public + "\n", "policies/gate.rego": closed})
	edit := func(file, from, to string) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			s := strings.Replace(string(b), from, to, 1)
			if s == string(b) {
				t.Fatalf("%s has no %q", file, from)
			}
			writeFile(t, p, s)
		}
	}
	personCommit(t, fleet, &alice, "passes every second", edit("ferry.yaml", "  branch: main\n", "  branch: main\n  interval: 1s\n"))
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir())
	waitFor(t, time.Minute, "qa closed by the signed policy", func() bool { return strings.Contains(p.out.String(), "qa is closed") })
	qaStays := func(what string) {
		t.Helper()
		time.Sleep(3 * time.Second) // three passes
		if strings.Contains(fleet.show(t, "overlays/qa/kustomization.yaml"), "newTag: 1.0.0") {
			t.Fatalf("%s opened qa:\n%s", what, p.out.String())
		}
	}

	personCommit(t, fleet, nil, "open the gate", func(dir string) {
		edit("policies/gate.rego", closed, open)(dir)
		edit("ferry.yaml", "  branch: main\n", "  branch: main # open sesame\n")(dir)
	})
	waitFor(t, time.Minute, "the refusals", func() bool {
		out := p.out.String()
		return strings.Contains(out, "policies changed by an unverified commit") && strings.Contains(out, "new ferry.yaml refused")
	})
	qaStays("an unsigned policy change")
	personCommit(t, fleet, &alice, "a signed ferry.yaml change", edit("ferry.yaml", "# open sesame", "# reviewed"))
	waitFor(t, time.Minute, "the reload", func() bool { return strings.Contains(p.out.String(), "ferry.yaml changed; reloaded") })
	qaStays("a signed ferry.yaml change after an unsigned policy change")

	personCommit(t, fleet, &alice, "open qa, signed", edit("policies/gate.rego", "\"never\" if false", "\"never, signed\" if false"))
	waitFor(t, time.Minute, "1.0.0 in qa after a signed policy change", func() bool {
		return strings.Contains(fleet.show(t, "overlays/qa/kustomization.yaml"), "newTag: 1.0.0")
	})
}
