package gitsig_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// Keys ferry cannot sign with are refused at start with the file and the
// reason, and never with the key or the passphrase in the message.
func TestLoadSignerErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	enc := filepath.Join(dir, "enc")
	gitsigtest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "hunter2-pass", "-f", enc)
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("not a key at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("no error, want %q", want)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
		for _, secret := range []string{"hunter2", "PRIVATE KEY"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a secret", err)
			}
		}
	}
	_, err := gitsig.LoadSSHSigner(filepath.Join(dir, "missing"), "")
	check(err, "missing", "no such file")
	_, err = gitsig.LoadSSHSigner(enc, "")
	check(err, enc, "encrypted and no passphraseFile")
	_, err = gitsig.LoadSSHSigner(junk, "")
	check(err, junk, "not an SSH private key")
	sshWrong := filepath.Join(dir, "ssh-wrong")
	if err := os.WriteFile(sshWrong, []byte("hunter2-nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = gitsig.LoadSSHSigner(enc, sshWrong)
	check(err, enc, "cannot unlock")
	sshRight := filepath.Join(dir, "ssh-right")
	if err := os.WriteFile(sshRight, []byte("hunter2-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := gitsig.LoadSSHSigner(enc, sshRight); err != nil {
		t.Fatalf("encrypted SSH key with its passphrase: %v", err)
	}
	_, err = gitsig.LoadOpenPGPSigner(junk, "")
	check(err, junk, "not an armored OpenPGP key")
	if !gitsigtest.HaveGPG() {
		t.Log("gpg is not installed: the OpenPGP cases are skipped")
		return
	}
	k := gitsigtest.NewGPGKey(t, "ferry <ferry@example.com>", "hunter2-gpg")
	_, err = gitsig.LoadOpenPGPSigner(k.SecretFile, "")
	check(err, k.SecretFile, "encrypted and no passphraseFile")
	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("hunter2-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = gitsig.LoadOpenPGPSigner(k.SecretFile, wrong)
	check(err, k.SecretFile, "cannot unlock")
	pub := filepath.Join(dir, "pub.asc")
	if err := os.WriteFile(pub, []byte(k.Public), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = gitsig.LoadOpenPGPSigner(pub, "")
	check(err, pub, "public key only")
	right := filepath.Join(dir, "right")
	if err := os.WriteFile(right, []byte(k.Passphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := gitsig.LoadOpenPGPSigner(k.SecretFile, right)
	if err != nil {
		t.Fatal(err)
	}
	if s.Key() != k.Fingerprint {
		t.Errorf("Key = %s, want %s", s.Key(), k.Fingerprint)
	}
}

func FuzzParseAllowedSigners(f *testing.F) {
	f.Add([]byte("a@b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl c\n"))
	f.Add([]byte(`"a b",c namespaces="git,file",valid-after="20200101Z" ssh-ed25519 AAAA` + "\n# x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := gitsig.ParseAllowedSigners("allowed_signers", data)
		if err == nil {
			for _, a := range s {
				if a.Key == nil || len(a.Principals) == 0 {
					t.Fatalf("accepted a line without key or principals: %+v", a)
				}
			}
		}
	})
}

// FuzzVerify: any gpgsig header a person pushes is an answer, never a panic.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("tree x\n\nmsg\n"), "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n")
	f.Add([]byte("tree x\n\nmsg\n"), "-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n")
	f.Add([]byte(""), "")
	s := &gitsig.Signers{}
	f.Fuzz(func(t *testing.T, payload []byte, sig string) {
		res := s.Verify(gitsig.Commit{Payload: payload, Signature: sig})
		if res.Verified {
			t.Fatalf("verified against no signers: %+v", res)
		}
	})
}

// FuzzParseKeyring: any keyring a person commits is keys or an error naming
// the file, never a panic, and never a secret key accepted.
func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("x\n-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := gitsig.ParseKeyring("keyring.asc", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "keyring.asc") {
				t.Fatalf("error without the file: %v", err)
			}
			return
		}
		for _, e := range list {
			if e.PrivateKey != nil {
				t.Fatal("accepted a secret key")
			}
		}
	})
}

// RSA keys under 2048 bits are refused at start, SSH and OpenPGP alike,
// naming the file and the size; 2048 bits are accepted.
func TestLoadSignerRefusesWeakKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	weak, strong := filepath.Join(dir, "rsa1024"), filepath.Join(dir, "rsa2048")
	gitsigtest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", weak)
	gitsigtest.Run(t, "", nil, "ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", strong)
	want := "ssh signing key " + weak + ": an RSA key of 1024 bits is too weak to sign with; use ed25519 or RSA of at least 2048 bits"
	if _, err := gitsig.LoadSSHSigner(weak, ""); err == nil || err.Error() != want {
		t.Errorf("RSA-1024 SSH key: %v, want %q", err, want)
	}
	if _, err := gitsig.LoadSSHSigner(strong, ""); err != nil {
		t.Errorf("RSA-2048 SSH key: %v", err)
	}
	if !gitsigtest.HaveGPG() {
		t.Log("gpg is not installed: the OpenPGP case is skipped")
		return
	}
	home, err := os.MkdirTemp("", "gnupg") // short: gpg-agent's socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = gitsigtest.RunErr("", nil, "gpgconf", "--homedir", home, "--kill", "all")
		os.RemoveAll(home)
	})
	env := []string{"GNUPGHOME=" + home}
	gitsigtest.Run(t, "", env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", "Weak <weak@example.com>", "rsa1024", "sign", "never")
	sec := gitsigtest.Run(t, "", env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--armor", "--export-secret-keys")
	pgpWeak := filepath.Join(dir, "weak.asc")
	if err := os.WriteFile(pgpWeak, []byte(sec), 0o600); err != nil {
		t.Fatal(err)
	}
	want = "openpgp signing key " + pgpWeak + ": an RSA key of 1024 bits is too weak to sign with; use ed25519 or RSA of at least 2048 bits"
	if _, err := gitsig.LoadOpenPGPSigner(pgpWeak, ""); err == nil || err.Error() != want {
		t.Errorf("RSA-1024 OpenPGP key: %v, want %q", err, want)
	}
}
