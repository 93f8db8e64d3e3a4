// Package gitsigtest makes real signing keys and signed commits for tests,
// with the tools a person uses: ssh-keygen, gpg and the git CLI.
package gitsigtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// SSHKey is an ed25519 key made by ssh-keygen.
type SSHKey struct {
	Private string // the private key file (unencrypted)
	Public  string // "ssh-ed25519 AAAA... comment"
}

// NewSSHKey runs ssh-keygen in a temp dir.
func NewSSHKey(t testing.TB, comment string) SSHKey {
	t.Helper()
	p := filepath.Join(t.TempDir(), "id_ed25519")
	Run(t, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", p)
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return SSHKey{Private: p, Public: strings.TrimSpace(string(pub))}
}

// GPGKey is an OpenPGP key made by gpg in a GNUPGHOME of its own.
type GPGKey struct {
	Home        string // GNUPGHOME
	Fingerprint string
	Public      string // armored public key
	SecretFile  string // armored secret key, protected by Passphrase when set
	Passphrase  string
}

// HaveGPG reports whether gpg is installed.
func HaveGPG() bool { _, err := exec.LookPath("gpg"); return err == nil }

// NewGPGKey makes an ed25519 signing key for uid ("Name <email>"); a
// non-empty passphrase protects the exported secret key.
func NewGPGKey(t testing.TB, uid, passphrase string) GPGKey {
	t.Helper()
	if !HaveGPG() {
		t.Skip("gpg is not installed")
	}
	// A short path: gpg-agent's socket path must fit in sun_path.
	home, err := os.MkdirTemp("", "gnupg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	Run(t, "", env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase,
		"--quick-gen-key", uid, "ed25519", "sign", "never")
	out := Run(t, "", env, "gpg", "--batch", "--with-colons", "--list-secret-keys")
	fpr := ""
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if fpr == "" {
		t.Fatalf("no fingerprint in %s", out)
	}
	pub := Run(t, "", env, "gpg", "--batch", "--armor", "--export", fpr)
	sec := Run(t, "", env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase, "--armor", "--export-secret-keys", fpr)
	secFile := filepath.Join(t.TempDir(), "secret.asc")
	if err := os.WriteFile(secFile, []byte(sec), 0o600); err != nil {
		t.Fatal(err)
	}
	return GPGKey{Home: home, Fingerprint: fpr, Public: pub, SecretFile: secFile, Passphrase: passphrase}
}

// Run runs a command with Env() plus env and returns its stdout; a failure
// ends the test with the command's stderr.
func Run(t testing.TB, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := RunErr(dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// RunErr is Run returning the error (with stderr) instead.
func RunErr(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(gitserver.Env(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), &cmdError{err: err, stderr: stderr.String()}
	}
	return string(out), nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }

// SSHSignArgs are git's -c options that sign commits with key, as a person
// configures it; prepend them to a commit's arguments with -S.
func SSHSignArgs(key SSHKey) []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key.Private}
}

// VerifySSH runs `git verify-commit` in dir for commit with an allowed
// signers file holding lines; it returns git's error (nil when verified).
func VerifySSH(t testing.TB, dir, commit string, lines ...string) error {
	t.Helper()
	f := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := RunErr(dir, nil, "git", "-c", "gpg.ssh.allowedSignersFile="+f, "verify-commit", commit)
	return err
}

// VerifyGPG runs `git verify-commit` with key's GNUPGHOME.
func VerifyGPG(dir, commit string, key GPGKey) error {
	_, err := RunErr(dir, []string{"GNUPGHOME=" + key.Home}, "git", "verify-commit", commit)
	return err
}
