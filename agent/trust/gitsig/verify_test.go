package gitsig_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// repo is a scratch work tree where the git CLI makes commits as people do.
type repo struct {
	t   *testing.T
	dir string
	n   int
}

func newRepo(t *testing.T) *repo {
	dir := t.TempDir()
	gitsigtest.Run(t, dir, nil, "git", "init", "--quiet", "-b", "main")
	return &repo{t: t, dir: dir}
}

// commit makes a commit with extra git options (signing) and env.
func (r *repo) commit(env []string, opts ...string) string {
	r.t.Helper()
	r.n++
	if err := os.WriteFile(filepath.Join(r.dir, "f"), []byte(strings.Repeat("x", r.n)), 0o644); err != nil {
		r.t.Fatal(err)
	}
	gitsigtest.Run(r.t, r.dir, nil, "git", "add", "f")
	args := append(opts, "commit", "--quiet", "-m", "change")
	if len(opts) > 0 {
		args = append(args, "-S")
	}
	gitsigtest.Run(r.t, r.dir, env, "git", args...)
	return strings.TrimSpace(gitsigtest.Run(r.t, r.dir, nil, "git", "rev-parse", "HEAD"))
}

// signed splits a commit object as git stores it into what was signed and
// the signature, the way git's parse_signed_commit does.
func (r *repo) signed(hash string) gitsig.Commit {
	r.t.Helper()
	raw := gitsigtest.Run(r.t, r.dir, nil, "git", "cat-file", "commit", hash)
	var payload, sig strings.Builder
	inSig, inHeader := false, true
	for _, line := range strings.SplitAfter(raw, "\n") {
		switch {
		case inHeader && strings.HasPrefix(line, "gpgsig "):
			inSig = true
			sig.WriteString(strings.TrimPrefix(line, "gpgsig "))
			continue
		case inSig && strings.HasPrefix(line, " "):
			sig.WriteString(line[1:])
			continue
		}
		inSig = false
		if line == "\n" {
			inHeader = false
		}
		payload.WriteString(line)
	}
	when := strings.TrimSpace(gitsigtest.Run(r.t, r.dir, nil, "git", "log", "-1", "--format=%ct", hash))
	sec, err := strconv.ParseInt(when, 10, 64)
	if err != nil {
		r.t.Fatal(err)
	}
	return gitsig.Commit{Hash: hash, Payload: []byte(payload.String()), Signature: sig.String(), Time: time.Unix(sec, 0)}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	alice := gitsigtest.NewSSHKey(t, "alice")
	bob := gitsigtest.NewSSHKey(t, "bob")
	good := r.commit(nil, gitsigtest.SSHSignArgs(alice)...)
	byBob := r.commit(nil, gitsigtest.SSHSignArgs(bob)...)
	unsigned := r.commit(nil)
	tampered := r.signed(good)
	tampered.Payload = []byte(strings.Replace(string(tampered.Payload), "change", "chang3", 1))

	type tc struct {
		commit  gitsig.Commit
		allowed string
		ring    string
		signer  string // "" when not verified
		reason  string // a part of the reason
		key     string // the key it says, when set
	}
	cases := map[string]tc{
		"good ssh":             {commit: r.signed(good), allowed: "alice@example.com " + alice.Public, signer: "alice@example.com"},
		"good ssh, namespaces": {commit: r.signed(good), allowed: `alice@example.com,a2@example.com namespaces="file,git" ` + alice.Public, signer: "alice@example.com,a2@example.com"},
		"key not allowed":      {commit: r.signed(byBob), allowed: "alice@example.com " + alice.Public, reason: "is not in the allowed signers"},
		"namespace file only":  {commit: r.signed(good), allowed: `alice@example.com namespaces="file" ` + alice.Public, reason: `namespaces "file" only`},
		"expired valid-before": {commit: r.signed(good), allowed: `alice@example.com valid-before="20200101" ` + alice.Public, reason: "was valid before 2020-01-01"},
		"not yet valid-after":  {commit: r.signed(good), allowed: `alice@example.com valid-after="29990101Z" ` + alice.Public, reason: "valid after 2999-01-01"},
		"window holds":         {commit: r.signed(good), allowed: `alice@example.com valid-after="20200101",valid-before="29990101" ` + alice.Public, signer: "alice@example.com"},
		"tampered commit":      {commit: tampered, allowed: "alice@example.com " + alice.Public, reason: "bad SSH signature"},
		"unsigned commit":      {commit: r.signed(unsigned), allowed: "alice@example.com " + alice.Public, reason: "not signed"},
		"no signers":           {commit: r.signed(good), reason: "is not in the allowed signers"},
	}
	if gitsigtest.HaveGPG() {
		carol := gitsigtest.NewGPGKey(t, "Carol <carol@example.com>", "")
		dave := gitsigtest.NewGPGKey(t, "Dave <dave@example.com>", "")
		env := []string{"GNUPGHOME=" + carol.Home}
		pgp := r.commit(env, "-c", "user.signingkey="+carol.Fingerprint)
		pgpTampered := r.signed(pgp)
		pgpTampered.Payload = append([]byte(nil), pgpTampered.Payload...)
		pgpTampered.Payload[len(pgpTampered.Payload)-2] ^= 1
		cases["good openpgp"] = tc{commit: r.signed(pgp), ring: carol.Public, signer: "Carol <carol@example.com>", key: carol.Fingerprint}
		// gpg names the issuer by fingerprint: the reason shows it.
		cases["openpgp key not in keyring"] = tc{commit: r.signed(pgp), ring: dave.Public, reason: "OpenPGP key " + carol.Fingerprint + " is not in the keyring"}
		cases["openpgp tampered"] = tc{commit: pgpTampered, ring: carol.Public, reason: "bad OpenPGP signature"}
		cases["openpgp against ssh signers"] = tc{commit: r.signed(pgp), allowed: "carol@example.com " + alice.Public, reason: "is not in the keyring"}
	} else {
		t.Log("gpg is not installed: the OpenPGP cases are skipped")
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var s gitsig.Signers
			var err error
			if s.SSH, err = gitsig.ParseAllowedSigners("allowed_signers", []byte("# people\n\n"+c.allowed+"\n")); err != nil {
				t.Fatal(err)
			}
			if s.OpenPGP, err = gitsig.ParseKeyring("keyring.asc", []byte(c.ring)); err != nil {
				t.Fatal(err)
			}
			res := s.Verify(c.commit)
			if res.Verified != (c.signer != "") || res.Signer != c.signer {
				t.Fatalf("Verify = %+v, want signer %q", res, c.signer)
			}
			if c.signer != "" && res.Key == "" {
				t.Errorf("verified without a key: %+v", res)
			}
			if c.key != "" && res.Key != c.key {
				t.Errorf("key %q, want %q", res.Key, c.key)
			}
			if !strings.Contains(res.Reason, c.reason) {
				t.Errorf("reason %q, want it to say %q", res.Reason, c.reason)
			}
		})
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	t.Parallel()
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	cases := map[string]string{
		"a@b " + key + "\nbroken":                     "allowed_signers:2: no public key",
		`a@b namespaces=git ` + key:                   "allowed_signers:1: option namespaces: the value must be in double quotes",
		`a@b valid-before="2020" ` + key:              "allowed_signers:1: option valid-before",
		`a@b cert-authority ` + key:                   "cert-authority is not supported",
		`a@b foo="x" ` + key:                          `unknown option "foo"`,
		"a@b ssh-ed25519 notbase64":                   "allowed_signers:1: public key",
		`a@b namespaces="git ` + key:                  "unterminated quote",
		"# comment\n\n  \n" + `a@b nope="1",x ` + key: "allowed_signers:4:",
	}
	for in, want := range cases {
		_, err := gitsig.ParseAllowedSigners("allowed_signers", []byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
	s, err := gitsig.ParseAllowedSigners("allowed_signers", []byte("# only comments\n\n"))
	if err != nil || len(s) != 0 {
		t.Fatalf("comments only: %v %v", s, err)
	}
}

func TestParseKeyringRefusesSecretKeys(t *testing.T) {
	t.Parallel()
	if !gitsigtest.HaveGPG() {
		t.Skip("gpg is not installed")
	}
	k := gitsigtest.NewGPGKey(t, "Eve <eve@example.com>", "")
	sec, err := os.ReadFile(k.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gitsig.ParseKeyring(".ferry/keyring.asc", sec); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Fatalf("error %v, want a refused secret key", err)
	}
	if strings.Contains(fmtErr(err), "PRIVATE KEY") {
		t.Fatal("the error shows the key")
	}
	if _, err := gitsig.ParseKeyring(".ferry/keyring.asc", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\nnope\n")); err == nil || !strings.Contains(err.Error(), ".ferry/keyring.asc") {
		t.Fatalf("malformed keyring: %v", err)
	}
	// A secret key appended after a public key (as a signed commit could
	// do) is refused with the line of its block, not skipped.
	f := gitsigtest.NewGPGKey(t, "Frank <frank@example.com>", "")
	ring := f.Public + string(sec)
	line := strings.Count(f.Public, "\n") + 1
	want := fmt.Sprintf(".ferry/keyring.asc:%d: a secret key block", line)
	if _, err := gitsig.ParseKeyring(".ferry/keyring.asc", []byte(ring)); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("appended secret key: %v, want %q", err, want)
	}
	// Every public block is read, not only the first.
	list, err := gitsig.ParseKeyring(".ferry/keyring.asc", []byte(f.Public+k.Public))
	if err != nil || len(list) != 2 {
		t.Fatalf("two public blocks: %d keys, %v", len(list), err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
