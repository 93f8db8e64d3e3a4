package cosign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"sigs.k8s.io/yaml"

	"github.com/ferry-dev/ferry/agent/config"
)

// maxTrustFileBytes caps a key file, Secret manifest or trusted root: trust
// material is small, and a wrong path (a log, an image) must not be slurped.
const maxTrustFileBytes = 1 << 20

// key is one configured public key.
type key struct {
	path        string // as configured: Signature.Key
	fingerprint string // SHA256:<unpadded base64 of sha256(DER PKIX)>
	pub         crypto.PublicKey
	verifiers   []signature.Verifier // the key's default hash first, then SHA-256 when it differs
	material    root.TrustedMaterial // for sigstore-go: this key whatever the bundle's hint
}

// Fingerprint is a public key's SHA256:<base64> fingerprint, as ssh prints
// one: the unpadded base64 of the SHA-256 of its DER (PKIX) encoding.
func Fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

func readTrustFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	n, err := b.ReadFrom(ioLimit(f, maxTrustFileBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxTrustFileBytes {
		return nil, fmt.Errorf("over %d bytes", maxTrustFileBytes)
	}
	return b.Bytes(), nil
}

// loadKey reads a PEM public key or a Kubernetes Secret holding cosign.pub.
func loadKey(path string) (*key, error) {
	data, err := readTrustFile(path)
	if err != nil {
		return nil, fmt.Errorf("cosign key %s: %w", path, err)
	}
	pub, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("cosign key %s: %w", path, err)
	}
	k, err := newKey(path, pub)
	if err != nil {
		return nil, fmt.Errorf("cosign key %s: %w", path, err)
	}
	return k, nil
}

func newKey(path string, pub crypto.PublicKey) (*key, error) {
	fp, err := Fingerprint(pub)
	if err != nil {
		return nil, err
	}
	def, err := signature.LoadDefaultVerifier(pub)
	if err != nil {
		return nil, err
	}
	k := &key{path: path, fingerprint: fp, pub: pub, verifiers: []signature.Verifier{def}}
	// cosign has signed with SHA-256 whatever the curve; a P-384 key's
	// default is SHA-384.
	if ec, ok := pub.(*ecdsa.PublicKey); ok && ec.Curve != elliptic.P256() {
		if v, err := signature.LoadECDSAVerifier(ec, crypto.SHA256); err == nil {
			k.verifiers = append(k.verifiers, v)
		}
	}
	ek := root.NewExpiringKey(def, timeZero, timeZero)
	k.material = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return ek, nil })
	return k, nil
}

// ParseKey parses a public key file's content: a PEM "PUBLIC KEY" (PKIX:
// ECDSA P-256/P-384/P-521, Ed25519, RSA of 2048 bits or more), or a
// Kubernetes Secret manifest (YAML or JSON) whose data (base64) or
// stringData holds such a PEM as cosign.pub, as `cosign
// generate-key-pair k8s://` writes it.
func ParseKey(data []byte) (crypto.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		return parsePEMKey(block)
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN")) {
		// pem.Decode refuses a block whose base64 does not decode; it is
		// still meant as PEM, and a YAML error would only confuse.
		return nil, errors.New("a PEM block that does not decode (bad base64, or a missing END line)")
	}
	pemData, err := secretKey(data)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("cosign.pub in the Secret is not PEM")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("cosign.pub in the Secret has data after its PEM block")
	}
	return parsePEMKey(block)
}

func parsePEMKey(block *pem.Block) (crypto.PublicKey, error) {
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\" (a private key or certificate is not a trusted key)", block.Type)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("ECDSA curve %s is not supported", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small (2048 at least)", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("public key type %T is not supported", pub)
	}
	return pub, nil
}

// secret is the part of a Kubernetes Secret the loader reads.
type secret struct {
	Kind       string            `json:"kind"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
}

func secretKey(data []byte) ([]byte, error) {
	var s secret
	if err := yaml.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("neither a PEM public key nor a Secret manifest: %w", err)
	}
	if s.Kind != "Secret" {
		return nil, errors.New("neither a PEM public key nor a Kubernetes Secret manifest (kind: Secret)")
	}
	if v, ok := s.StringData["cosign.pub"]; ok {
		return []byte(v), nil
	}
	if v, ok := s.Data["cosign.pub"]; ok {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("Secret data cosign.pub is not base64: %w", err)
		}
		return b, nil
	}
	return nil, errors.New("the Secret has no cosign.pub in data or stringData")
}

// loadRoot reads a sigstore trusted_root.json.
func loadRoot(path string) (*root.TrustedRoot, error) {
	data, err := readTrustFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w", path, err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("trusted root %s: %w", path, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("trusted root %s: no certificate authorities: keyless certificates could chain to nothing", path)
	}
	if len(tr.TimestampingAuthorities()) == 0 && len(tr.RekorLogs()) == 0 {
		return nil, fmt.Errorf("trusted root %s: no timestamp authority and no transparency log: a short-lived certificate's validity cannot be checked offline", path)
	}
	return tr, nil
}

// anchored makes re match a whole value. cosign's
// --certificate-identity-regexp matches anywhere, so "ci@example.com"
// also accepts "ci@example.com.attacker.test"; ferry departs from it
// (the README says so): a trust rule should not need ^ and $ to be safe.
func anchored(re string) string {
	if re == "" {
		return ""
	}
	return "^(?:" + re + ")$"
}

// identities turns the configured keyless signers into sigstore-go's.
func identities(cfg []config.SignerIdentity, src string) ([]verify.CertificateIdentity, error) {
	out := make([]verify.CertificateIdentity, 0, len(cfg))
	for i, id := range cfg {
		where := fmt.Sprintf("%s: identities[%d]", src, i)
		if (id.Issuer == "") == (id.IssuerRegExp == "") {
			return nil, fmt.Errorf("%s: set exactly one of issuer and issuerRegExp", where)
		}
		if (id.Subject == "") == (id.SubjectRegExp == "") {
			return nil, fmt.Errorf("%s: set exactly one of subject and subjectRegExp", where)
		}
		for field, re := range map[string]string{"issuerRegExp": id.IssuerRegExp, "subjectRegExp": id.SubjectRegExp} {
			if re == "" {
				continue
			}
			if _, err := regexp.Compile(re); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", where, field, err)
			}
		}
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, anchored(id.IssuerRegExp), id.Subject, anchored(id.SubjectRegExp))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, ci)
	}
	return out, nil
}
