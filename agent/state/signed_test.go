package state

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// people commit to a fleet repo with the git CLI, signed or not.
type people struct {
	t          *testing.T
	bare, work string
}

func newPeople(t *testing.T) *people {
	t.Helper()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	gitsigtest.Run(t, "", nil, "git", "clone", "--quiet", bare, work)
	return &people{t: t, bare: bare, work: work}
}

// commit writes files and commits, signed with key when set, and pushes.
func (p *people) commit(key *gitsigtest.SSHKey, files map[string]string) string {
	p.t.Helper()
	for name, content := range files {
		f := filepath.Join(p.work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	gitsigtest.Run(p.t, p.work, nil, "git", "add", "--all")
	args := []string{"commit", "--quiet", "-m", "change"}
	if key != nil {
		args = append(gitsigtest.SSHSignArgs(*key), append(args, "-S")...)
	}
	gitsigtest.Run(p.t, p.work, nil, "git", args...)
	gitsigtest.Run(p.t, p.work, nil, "git", "push", "--quiet", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(gitsigtest.Run(p.t, p.work, nil, "git", "rev-parse", "HEAD"))
}

func signerLine(who string, k gitsigtest.SSHKey) string { return who + " " + k.Public + "\n" }

// The signers file is a chain: its first version is trusted as it is, and
// a later change counts only when the signers before it verify the commit
// that made it. A push cannot add its own key.
func TestSignaturesTrustChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice, bob, mallory := gitsigtest.NewSSHKey(t, "alice"), gitsigtest.NewSSHKey(t, "bob"), gitsigtest.NewSSHKey(t, "mallory")
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	p := newPeople(t)
	const signersFile = ".ferry/allowed_signers"
	p.commit(nil, map[string]string{signersFile: "# root: trusted on first use\n" + signerLine("alice@example.com", alice)})
	byAlice := p.commit(&alice, map[string]string{"overlays/dev/kustomization.yaml": "a\n"})
	// mallory adds her own key, unsigned, then signs a change with it.
	p.commit(nil, map[string]string{signersFile: signerLine("alice@example.com", alice) + signerLine("mallory@example.com", mallory)})
	byMallory := p.commit(&mallory, map[string]string{"overlays/dev/kustomization.yaml": "m\n"})
	// and again, signing the key change with her own new key.
	p.commit(&mallory, map[string]string{signersFile: signerLine("alice@example.com", alice) + signerLine("mallory@example.com", mallory) + "# again\n"})
	byMallory2 := p.commit(&mallory, map[string]string{"overlays/dev/kustomization.yaml": "m2\n"})
	// alice adds bob: honoured.
	p.commit(&alice, map[string]string{signersFile: signerLine("alice@example.com", alice) + signerLine("bob@example.com", bob)})
	byBob := p.commit(&bob, map[string]string{"overlays/dev/kustomization.yaml": "b\n"})

	signer, err := gitsig.LoadSSHSigner(ferryKey.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	repo, err := fleet.Open(ctx, fleet.Options{URL: p.bare, Dir: filepath.Join(t.TempDir(), "clone"), Signer: signer,
		Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// ferry's own commit, signed with a key no signers file names.
	own, err := repo.Commit(snap, map[string][]byte{"overlays/qa/kustomization.yaml": []byte("f\n")}, "promote\n", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := NewSignatures(config.VerifyCommits{Mode: VerifyRequire, AllowedSigners: signersFile}, repo, signer, "ferry@example.com",
		slog.New(slog.NewTextHandler(&logs, nil)))
	cases := map[string]struct {
		commit, signer, reason string
	}{
		"alice, from the root":           {commit: byAlice, signer: "alice@example.com"},
		"mallory added herself unsigned": {commit: byMallory, reason: "is not in the allowed signers"},
		"mallory signed her own change":  {commit: byMallory2, reason: "is not in the allowed signers"},
		"bob, added by alice":            {commit: byBob, signer: "bob@example.com"},
		"ferry's own key":                {commit: own.Hash(), signer: "ferry@example.com"},
	}
	for name, c := range cases {
		sb, err := s.Check(ctx, own, c.commit)
		if err != nil {
			t.Fatal(err)
		}
		if sb.Verified != (c.signer != "") || sb.Signer != c.signer || !strings.Contains(sb.Reason, c.reason) || sb.Commit != c.commit {
			t.Errorf("%s: %+v, want signer %q reason %q", name, sb, c.signer, c.reason)
		}
	}
	if n := strings.Count(logs.String(), "change to the signers ignored"); n != 2 {
		t.Errorf("%d ignored changes logged, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "unverified commit") || !strings.Contains(logs.String(), "author=") {
		t.Errorf("no warning for the unverified commits:\n%s", logs.String())
	}

	// A malformed file, even from a trusted signer, fails closed: nothing
	// verifies, and the reason names the file and line.
	p.commit(&alice, map[string]string{signersFile: signerLine("alice@example.com", alice) + "bob@example.com ssh-ed25519 !!!\n"})
	snap, err = repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := s.Check(ctx, snap, byAlice)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Verified || !strings.Contains(sb.Reason, signersFile+":2:") {
		t.Errorf("malformed signers: %+v", sb)
	}
	for _, secret := range []string{"PRIVATE KEY"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a private key reached the log")
		}
	}
}

// Off is no checker at all: nothing is read or reported.
func TestSignaturesOff(t *testing.T) {
	if s := NewSignatures(config.VerifyCommits{Mode: VerifyOff}, nil, nil, "", nil); s != nil || s.Mode() != VerifyOff {
		t.Fatal("off made a checker")
	}
}

// openRepo clones p's fleet repo with ferry's signing key and fetches.
func openRepo(t *testing.T, p *people) (*fleet.Repo, gitsig.Signer, *fleet.Snapshot) {
	t.Helper()
	ferryKey := gitsigtest.NewSSHKey(t, "ferry")
	signer, err := gitsig.LoadSSHSigner(ferryKey.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fleet.Open(context.Background(), fleet.Options{URL: p.bare, Dir: filepath.Join(t.TempDir(), "clone"), Signer: signer,
		Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := repo.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return repo, signer, snap
}

// A signers file replaced by a symbolic link fails closed, whoever made
// the change: the history of the link is not that of what it points to.
// Nothing verifies until a regular file is back.
func TestSignaturesSymlinkRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := gitsigtest.NewSSHKey(t, "alice")
	const signersFile = ".ferry/allowed_signers"
	want := ".ferry/allowed_signers is a symlink: the signers file must be a regular file"
	for name, key := range map[string]*gitsigtest.SSHKey{"ignored change": nil, "verified change": &alice} {
		t.Run(name, func(t *testing.T) {
			p := newPeople(t)
			p.commit(nil, map[string]string{signersFile: signerLine("alice@example.com", alice)})
			byAlice := p.commit(&alice, map[string]string{"overlays/dev/kustomization.yaml": "a\n"})
			f := filepath.Join(p.work, ".ferry", "allowed_signers")
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("other", f); err != nil {
				t.Fatal(err)
			}
			p.commit(key, map[string]string{".ferry/other": signerLine("alice@example.com", alice)})
			// A change through the link's target.
			p.commit(key, map[string]string{".ferry/other": signerLine("alice@example.com", alice) + "# more\n"})
			repo, signer, snap := openRepo(t, p)
			s := NewSignatures(config.VerifyCommits{Mode: VerifyRequire, AllowedSigners: signersFile}, repo, signer, "ferry@example.com", nil)
			sb, err := s.Check(ctx, snap, byAlice)
			if err != nil {
				t.Fatal(err)
			}
			if sb.Verified || !strings.Contains(sb.Reason, want) {
				t.Errorf("%+v, want unverified: %q", sb, want)
			}
			// alice puts a regular file back: verified again.
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			p.commit(&alice, map[string]string{signersFile: signerLine("alice@example.com", alice)})
			snap, err = repo.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sb, err := s.Check(ctx, snap, byAlice); err != nil || !sb.Verified {
				t.Errorf("after the fix: %+v %v", sb, err)
			}
		})
	}
}

// A configured signers file that is not in the repo (a typo) is named in
// the reason; nothing but ferry's own commits verifies.
func TestSignaturesMissingFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := gitsigtest.NewSSHKey(t, "alice")
	p := newPeople(t)
	p.commit(nil, map[string]string{".ferry/allowed_signers": signerLine("alice@example.com", alice)})
	byAlice := p.commit(&alice, map[string]string{"overlays/dev/kustomization.yaml": "a\n"})
	repo, signer, snap := openRepo(t, p)
	s := NewSignatures(config.VerifyCommits{Mode: VerifyRequire, AllowedSigners: ".ferry/typo_signers", Keyring: ".ferry/keyring.asc"},
		repo, signer, "ferry@example.com", nil)
	sb, err := s.Check(ctx, snap, byAlice)
	if err != nil {
		t.Fatal(err)
	}
	want := "is not in the allowed signers: the signers file .ferry/typo_signers does not exist in the fleet repo at " + snap.Hash()[:12]
	if sb.Verified || !strings.Contains(sb.Reason, want) || !strings.HasPrefix(sb.Reason, "SSH key SHA256:") {
		t.Errorf("%+v, want unverified: %q", sb, want)
	}
	if strings.Contains(sb.Reason, "keyring.asc") {
		t.Errorf("an SSH signature's reason names the keyring: %q", sb.Reason)
	}
}

// A link on the way to the signers file (.ferry itself) is refused too.
func TestSignaturesLinkedDirectoryRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := gitsigtest.NewSSHKey(t, "alice")
	p := newPeople(t)
	p.commit(nil, map[string]string{".ferry/allowed_signers": signerLine("alice@example.com", alice)})
	byAlice := p.commit(&alice, map[string]string{"overlays/dev/kustomization.yaml": "a\n"})
	if err := os.RemoveAll(filepath.Join(p.work, ".ferry")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(p.work, ".ferry")); err != nil {
		t.Fatal(err)
	}
	p.commit(&alice, map[string]string{"real/allowed_signers": signerLine("alice@example.com", alice)})
	repo, signer, snap := openRepo(t, p)
	s := NewSignatures(config.VerifyCommits{Mode: VerifyRequire, AllowedSigners: ".ferry/allowed_signers"}, repo, signer, "ferry@example.com", nil)
	sb, err := s.Check(ctx, snap, byAlice)
	if err != nil {
		t.Fatal(err)
	}
	want := ".ferry/allowed_signers: .ferry is a symlink: the signers file must be a regular file in a plain directory"
	if sb.Verified || !strings.Contains(sb.Reason, want) {
		t.Errorf("%+v, want unverified: %q", sb, want)
	}
}

// TestCheckPathRefusesLinks (red team): a protected path (policies/,
// .ferry/freeze.yaml, ferry.yaml) that is or holds a symlink is not
// verified, even when alice signed the commit that made the link: an
// unverified commit could change what it points to.
func TestCheckPathRefusesLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	alice := gitsigtest.NewSSHKey(t, "alice")
	p := newPeople(t)
	p.commit(nil, map[string]string{".ferry/allowed_signers": signerLine("alice@example.com", alice), "policies/gate.rego": "package ferry.promotion\n",
		"rules/lib.rego": "package ferry.promotion\n", "ops/freeze.yaml": "x\n"})
	if err := os.Symlink("../rules/lib.rego", filepath.Join(p.work, "policies", "lib.rego")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../ops/freeze.yaml", filepath.Join(p.work, ".ferry", "freeze.yaml")); err != nil {
		t.Fatal(err)
	}
	p.commit(&alice, map[string]string{"README": "links\n"})
	repo, signer, snap := openRepo(t, p)
	s := NewSignatures(config.VerifyCommits{Mode: VerifyRequire, AllowedSigners: ".ferry/allowed_signers"}, repo, signer, "ferry@example.com", nil)
	for path, link := range map[string]string{"policies": "policies/lib.rego", ".ferry/freeze.yaml": ".ferry/freeze.yaml"} {
		sb, found, err := s.CheckPath(ctx, snap, path)
		if err != nil || !found || sb.Verified || !strings.Contains(sb.Reason, link+" is a symlink") {
			t.Errorf("%s: %+v found=%v %v; want unverified, naming %s", path, sb, found, err, link)
		}
	}
	if sb, found, err := s.CheckPath(ctx, snap, "README"); err != nil || !found || !sb.Verified {
		t.Errorf("a regular file signed by alice's commit: %+v %v %v", sb, found, err)
	}
}
