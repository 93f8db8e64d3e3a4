package gitsig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Signers are the keys whose signatures on a commit are trusted.
type Signers struct {
	SSH     []AllowedSigner
	OpenPGP openpgp.EntityList
}

// ParseKeyring reads an armored OpenPGP keyring: one or more public key
// blocks, as `gpg --armor --export` writes them, one after another (every
// block is read, not only the first). Errors name the file and the line of
// the block.
func ParseKeyring(file string, data []byte) (openpgp.EntityList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	starts := armorStarts(data)
	if len(starts) == 0 {
		return nil, fmt.Errorf("%s: not an armored OpenPGP keyring: no -----BEGIN PGP block", file)
	}
	var list openpgp.EntityList
	for i, at := range starts {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1].offset
		}
		line := at.line
		block, err := armor.Decode(bytes.NewReader(data[at.offset:end]))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an armored OpenPGP key block: %v", file, line, err)
		}
		if block.Type == openpgp.PrivateKeyType {
			// A secret key in the fleet repo is a leak; refusing it makes it seen.
			return nil, fmt.Errorf("%s:%d: a secret key block; commit public keys only (gpg --armor --export)", file, line)
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("%s:%d: a %q block, not a public key block", file, line, block.Type)
		}
		ents, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not an OpenPGP public key: %v", file, line, err)
		}
		for _, e := range ents {
			if e.PrivateKey != nil || hasSecretSubkey(e) {
				return nil, fmt.Errorf("%s:%d: holds a secret key (%X); commit public keys only (gpg --armor --export)", file, line, e.PrimaryKey.Fingerprint)
			}
		}
		list = append(list, ents...)
	}
	return list, nil
}

func hasSecretSubkey(e *openpgp.Entity) bool {
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			return true
		}
	}
	return false
}

type armorStart struct{ offset, line int }

// armorStarts finds the lines that open an armored block.
func armorStarts(data []byte) []armorStart {
	var out []armorStart
	off := 0
	for n, l := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("-----BEGIN PGP ")) {
			out = append(out, armorStart{offset: off, line: n + 1})
		}
		off += len(l)
	}
	return out
}

// Commit is what is verified: the bytes git signs (the commit object
// without its gpgsig header) and the armored signature from that header.
type Commit struct {
	Hash      string
	Payload   []byte
	Signature string
	// Time is the committer time: an allowed signer's validity window is
	// checked against it, as git does.
	Time time.Time
}

// Result says who signed a commit, or why it is not verified.
type Result struct {
	Verified bool
	// Signer is the principal(s) of the allowed-signers line, or the
	// OpenPGP key's primary user ID.
	Signer string
	// Key is the SSH key's SHA256 fingerprint or the OpenPGP key's
	// fingerprint (upper-case hex).
	Key    string
	KeyID  string // OpenPGP only: the long key id that signed
	Kind   string // "ssh" or "openpgp"; "" when unsigned
	Reason string // why not verified; "" when verified
}

const (
	sshHeader = "-----BEGIN SSH SIGNATURE-----"
	pgpHeader = "-----BEGIN PGP SIGNATURE-----"
)

// Verify checks c's signature against s.
func (s *Signers) Verify(c Commit) Result {
	sig := strings.TrimSpace(c.Signature)
	switch {
	case sig == "":
		return Result{Reason: "the commit is not signed"}
	case strings.HasPrefix(sig, sshHeader):
		return s.verifySSH(c, sig)
	case strings.HasPrefix(sig, pgpHeader):
		return s.verifyOpenPGP(c, sig)
	}
	return Result{Reason: "the commit's signature is neither SSH nor OpenPGP (x509 signatures are not supported)"}
}

func (s *Signers) verifySSH(c Commit, armored string) Result {
	res := Result{Kind: "ssh"}
	sig, err := sshsig.Unarmor([]byte(armored))
	if err != nil {
		res.Reason = fmt.Sprintf("malformed SSH signature: %v", err)
		return res
	}
	res.Key = ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != Namespace {
		res.Reason = fmt.Sprintf("the SSH signature is for namespace %q, not %q", sig.Namespace, Namespace)
		return res
	}
	// The key in the signature must be allowed, then verify with it.
	want := sig.PublicKey.Marshal()
	var lines []AllowedSigner
	for _, a := range s.SSH {
		if bytes.Equal(a.Key.Marshal(), want) {
			lines = append(lines, a)
		}
	}
	if len(lines) == 0 {
		res.Reason = fmt.Sprintf("SSH key %s is not in the allowed signers", res.Key)
		return res
	}
	if err := sshsig.Verify(bytes.NewReader(c.Payload), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		res.Reason = fmt.Sprintf("bad SSH signature by %s: %v (the commit was changed after signing, or the signature is not its own)", res.Key, err)
		return res
	}
	var why []string
	for _, a := range lines {
		if ok, reason := a.allows(c.Time); !ok {
			why = append(why, reason)
			continue
		}
		res.Verified, res.Signer, res.Reason = true, strings.Join(a.Principals, ","), ""
		return res
	}
	res.Reason = strings.Join(why, "; ")
	return res
}

func (s *Signers) verifyOpenPGP(c Commit, armored string) Result {
	res := Result{Kind: "openpgp"}
	body, err := unarmor(armored)
	if err != nil {
		res.Reason = fmt.Sprintf("malformed OpenPGP signature: %v", err)
		return res
	}
	// Key validity (expiry, revocation) at the time of signing, as gpg
	// judges it: the signature packet says when that was.
	at := c.Time
	issuer := ""
	if p, err := packet.Read(bytes.NewReader(body)); err == nil {
		if sp, ok := p.(*packet.Signature); ok {
			at = sp.CreationTime
			issuer, res.KeyID = issuerOf(sp)
		}
	}
	cfg := &packet.Config{Time: func() time.Time { return at }}
	sig, entity, err := openpgp.VerifyDetachedSignature(s.OpenPGP, bytes.NewReader(c.Payload), bytes.NewReader(body), cfg)
	if sig != nil && sig.IssuerKeyId != nil {
		res.KeyID = fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	if entity != nil {
		res.Key = fmt.Sprintf("%X", entity.PrimaryKey.Fingerprint)
	}
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer) || (err == nil && entity == nil):
		res.Reason = fmt.Sprintf("OpenPGP key %s is not in the keyring", issuer)
		return res
	case err != nil:
		res.Reason = fmt.Sprintf("bad OpenPGP signature by key %s: %v", issuer, err)
		return res
	}
	res.Verified = true
	if id := entity.PrimaryIdentity(); id != nil {
		res.Signer = id.Name
	}
	return res
}

// issuerOf names the key that made sp, for a reason: the issuer fingerprint
// when the signature carries one (gpg 2.2 and later always add it; some
// signatures carry only it), else the issuer key id; and the long key id
// (the fingerprint's low 64 bits for a v4 key).
func issuerOf(sp *packet.Signature) (issuer, keyID string) {
	if sp.IssuerKeyId != nil {
		keyID = fmt.Sprintf("%016X", *sp.IssuerKeyId)
	}
	if fp := sp.IssuerFingerprint; len(fp) > 0 {
		if keyID == "" && len(fp) == 20 {
			keyID = fmt.Sprintf("%X", fp[12:])
		}
		return fmt.Sprintf("%X", fp), keyID
	}
	if keyID != "" {
		return keyID, keyID
	}
	return "(the signature names none)", ""
}

func unarmor(armored string) ([]byte, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(block.Body)
}
