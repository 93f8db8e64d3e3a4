// Package notationtest signs images as the notation CLI does, for tests:
// a certificate authority with code-signing leaves, notation's trust store
// layout, and notation-go's own Sign pushing the signature as a referrer.
// The notation CLI is not served by the Go module proxy; its library is.
package notationtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	notationgo "github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	orasremote "oras.land/oras-go/v2/registry/remote"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// subject is a DN as notation wants one: C, ST and O are required.
func subject(cn, org string) pkix.Name {
	return pkix.Name{CommonName: cn, Organization: []string{org}, Province: []string{"WA"}, Country: []string{"US"}}
}

// NewCA makes a root valid from three days ago for a year.
func NewCA(t testing.TB, cn, org string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               subject(cn, org),
		NotBefore:             time.Now().Add(-72 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return &CA{Cert: create(t, tmpl, tmpl, key, key), Key: key}
}

// Leaf issues a code-signing certificate valid from notBefore to notAfter
// (edit may change it before it is signed) and returns its key and the
// chain, leaf first.
func (ca *CA) Leaf(t testing.TB, cn, org string, notBefore, notAfter time.Time, edit ...func(*x509.Certificate)) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject(cn, org),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	for _, e := range edit {
		e(tmpl)
	}
	return key, []*x509.Certificate{create(t, tmpl, ca.Cert, key, ca.Key), ca.Cert}
}

func create(t testing.TB, tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// WriteStore lays the root out as notation's trust store does:
// DIR/x509/ca/NAME/root.pem.
func (ca *CA) WriteStore(t testing.TB, dir, name string) {
	t.Helper()
	d := filepath.Join(dir, "x509", "ca", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
	if err := os.WriteFile(filepath.Join(d, "root.pem"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Repository is notation-go's registry client (oras-go, plain HTTP) for
// repo (host/path): what the notation CLI pushes with.
func Repository(t testing.TB, repo string) notationreg.Repository {
	t.Helper()
	r, err := orasremote.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return notationreg.NewRepository(r)
}

// Sign signs repo@digest with notation.Sign in mediaType (JWS or COSE),
// pushing the signature as a referrer (on distribution 2.8, under the
// sha256-<hex> tag, as notation does).
func Sign(t testing.TB, repo, digest string, key crypto.PrivateKey, chain []*x509.Certificate, mediaType string) {
	t.Helper()
	s, err := signer.NewGenericSigner(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = notationgo.Sign(ctx, s, Repository(t, repo), notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: mediaType},
		ArtifactReference: repo + "@" + digest,
	})
	if err != nil {
		t.Fatalf("notation sign %s@%s: %v", repo, digest, err)
	}
}
