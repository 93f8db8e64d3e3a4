// Package gitsig signs the commits ferry writes and verifies the
// signatures on commits people push, the way git does: an SSH signature
// (sshsig, namespace "git", checked against an allowed-signers file in the
// format of git's gpg.ssh.allowedSignersFile) or an OpenPGP one (checked
// against an armored keyring). It is a leaf: it sees a commit as the bytes
// that were signed and the armored signature from its gpgsig header, never
// a repository.
package gitsig

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Namespace is the sshsig namespace git signs commits in.
const Namespace = "git"

// Signer signs a commit's payload (the commit object without its gpgsig
// header) and returns the armored signature that goes in that header.
type Signer interface {
	SignCommit(payload []byte) (string, error)
	// Key names the signing key (an SSH SHA256 fingerprint or an OpenPGP
	// fingerprint), for logs and for trusting ferry's own commits.
	Key() string
}

// SSHSigner signs with an SSH private key, as `git -c gpg.format=ssh
// commit -S` does.
type SSHSigner struct {
	signer ssh.Signer
}

// LoadSSHSigner reads an OpenSSH private key; passphraseFile ("" for
// none) unlocks an encrypted one. Errors name the files and the reason,
// never the key or the passphrase.
func LoadSSHSigner(file, passphraseFile string) (*SSHSigner, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ssh signing key: %w", err) // *PathError: op, path and cause
	}
	pass, err := readPassphrase(passphraseFile)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if pass == nil {
			return nil, fmt.Errorf("ssh signing key %s: the key is encrypted and no passphraseFile is given", file)
		}
		if s, err = ssh.ParsePrivateKeyWithPassphrase(data, pass); err != nil {
			return nil, fmt.Errorf("ssh signing key %s: cannot unlock it with the passphrase in %s", file, passphraseFile)
		}
	}
	if err != nil {
		// x/crypto's parse errors describe the format, not the content.
		return nil, fmt.Errorf("ssh signing key %s: not an SSH private key: %v", file, err)
	}
	if err := strongSSHKey(s.PublicKey()); err != nil {
		return nil, fmt.Errorf("ssh signing key %s: %w", file, err)
	}
	return &SSHSigner{signer: s}, nil
}

// readPassphrase reads a passphrase file without its final newline; nil
// when none is named.
func readPassphrase(file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	p, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("signing key passphrase: %w", err)
	}
	return bytes.TrimRight(p, "\r\n"), nil
}

// NewSSHSigner wraps a signer (tests, a key held elsewhere).
func NewSSHSigner(s ssh.Signer) *SSHSigner { return &SSHSigner{signer: s} }

// PublicKey is the signing key's public half.
func (s *SSHSigner) PublicKey() ssh.PublicKey { return s.signer.PublicKey() }

// Key is the key's SHA256 fingerprint.
func (s *SSHSigner) Key() string { return ssh.FingerprintSHA256(s.signer.PublicKey()) }

// SignCommit makes an armored sshsig signature over payload, SHA-512 as
// ssh-keygen uses by default.
func (s *SSHSigner) SignCommit(payload []byte) (string, error) {
	sig, err := sshsig.Sign(bytes.NewReader(payload), s.signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return "", fmt.Errorf("ssh sign commit: %w", err)
	}
	return string(sshsig.Armor(sig)), nil
}

// OpenPGPSigner signs with an OpenPGP private key, as `git commit -S`
// with gpg does.
type OpenPGPSigner struct {
	entity *openpgp.Entity
}

// LoadOpenPGPSigner reads an armored private key; passphraseFile ("" for
// none) unlocks an encrypted one. Errors name the files and the reason,
// never the key or the passphrase.
func LoadOpenPGPSigner(keyFile, passphraseFile string) (*OpenPGPSigner, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("openpgp signing key: %w", err)
	}
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("openpgp signing key %s: not an armored OpenPGP key: %v", keyFile, err)
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("openpgp signing key %s: holds %d keys, want exactly one", keyFile, len(list))
	}
	e := list[0]
	if e.PrivateKey == nil {
		return nil, fmt.Errorf("openpgp signing key %s: holds a public key only; export the secret key (gpg --armor --export-secret-keys)", keyFile)
	}
	pass, err := readPassphrase(passphraseFile)
	if err != nil {
		return nil, err
	}
	if encrypted(e) {
		if pass == nil {
			return nil, fmt.Errorf("openpgp signing key %s: the key is encrypted and no passphraseFile is given", keyFile)
		}
		if err := e.DecryptPrivateKeys(pass); err != nil {
			// The error says only that decryption failed.
			return nil, fmt.Errorf("openpgp signing key %s: cannot unlock it with the passphrase in %s", keyFile, passphraseFile)
		}
	}
	now := time.Now()
	k, ok := e.SigningKey(now)
	if !ok {
		return nil, fmt.Errorf("openpgp signing key %s: has no valid signing key (expired, revoked, or not capable of signing)", keyFile)
	}
	if err := strongOpenPGPKey(k.PublicKey); err != nil {
		return nil, fmt.Errorf("openpgp signing key %s: %w", keyFile, err)
	}
	return &OpenPGPSigner{entity: e}, nil
}

func encrypted(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil && sk.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// Key is the primary key's fingerprint (upper-case hex, as gpg prints it).
func (s *OpenPGPSigner) Key() string {
	return strings.ToUpper(fmt.Sprintf("%x", s.entity.PrimaryKey.Fingerprint))
}

// Entity is the public key, for trusting ferry's own commits.
func (s *OpenPGPSigner) Entity() *openpgp.Entity { return s.entity }

// SignCommit makes an armored detached binary signature over payload.
func (s *OpenPGPSigner) SignCommit(payload []byte) (string, error) {
	var buf bytes.Buffer
	cfg := &packet.Config{Rand: rand.Reader}
	if err := openpgp.ArmoredDetachSign(&buf, s.entity, bytes.NewReader(payload), cfg); err != nil {
		return "", fmt.Errorf("openpgp sign commit: %w", err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return out, nil
}

// minRSABits is the smallest RSA key ferry signs with: 1024-bit RSA is
// within reach of a well-funded attacker, and NIST disallows it for
// signatures; 2048 is what ssh-keygen and gpg make by default.
const minRSABits = 2048

// strongSSHKey refuses DSA and short RSA keys.
func strongSSHKey(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoDSA: //nolint:staticcheck // named to be refused
		return errors.New("a DSA key is too weak to sign with; use ed25519 (ssh-keygen -t ed25519)")
	case ssh.KeyAlgoRSA:
		cpk, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return errors.New("cannot tell the RSA key's size")
		}
		rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey)
		if !ok {
			return errors.New("cannot tell the RSA key's size")
		}
		if n := rk.N.BitLen(); n < minRSABits {
			return fmt.Errorf("an RSA key of %d bits is too weak to sign with; use ed25519 or RSA of at least %d bits", n, minRSABits)
		}
	}
	return nil
}

// strongOpenPGPKey refuses DSA and short RSA signing keys.
func strongOpenPGPKey(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoDSA:
		return errors.New("a DSA key is too weak to sign with; use ed25519 (gpg --quick-gen-key NAME ed25519 sign)")
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		n, err := pk.BitLength()
		if err != nil {
			return fmt.Errorf("cannot tell the RSA key's size: %v", err)
		}
		if n < minRSABits {
			return fmt.Errorf("an RSA key of %d bits is too weak to sign with; use ed25519 or RSA of at least %d bits", n, minRSABits)
		}
	}
	return nil
}
