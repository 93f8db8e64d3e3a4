package notation

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationgo "github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasremote "oras.land/oras-go/v2/registry/remote"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/jws"
)

// startRegistry runs Debian's docker-registry (CNCF distribution 2.8, no
// referrers API) on 127.0.0.1 and returns its host:port.
func startRegistry(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}
http: {addr: %s}
`, filepath.Join(dir, "data"), addr)
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", cfgFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pushImage pushes a random image to repo:tag and returns its digest.
func pushImage(t testing.TB, repo, tag string) string {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(context.Background())); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// pki is a test CA and code-signing leaves under it.
type pki struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
}

func newPKI(t testing.TB, cn string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"example"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-72 * time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{root: cert, rootKey: key}
}

// leaf issues a code-signing certificate valid from notBefore to notAfter.
func (p *pki) leaf(t testing.TB, cn string, notBefore, notAfter time.Time, edit ...func(*x509.Certificate)) (*ecdsa.PrivateKey, []*x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"example"}, Province: []string{"WA"}, Country: []string{"US"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	for _, e := range edit {
		e(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, key.Public(), p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, []*x509.Certificate{cert, p.root}
}

// writeStore writes p's root as x509/ca/NAME/root.pem under dir.
func writeStore(t testing.TB, dir, name string, p *pki) {
	t.Helper()
	d := filepath.Join(dir, "x509", "ca", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw})
	if err := os.WriteFile(filepath.Join(d, "root.pem"), pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
}

// notationRepo is notation-go's registry client (oras-go) for repo, used
// only to sign and push as the notation CLI does; ferry reads through its
// own client.
func notationRepo(t testing.TB, repo string) notationreg.Repository {
	t.Helper()
	r, err := orasremote.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return notationreg.NewRepository(r)
}

// sign signs repo@digest with notation.Sign, pushing the signature as a
// referrer (distribution 2.8: under the sha256-<hex> tag, as notation does).
func sign(t testing.TB, repo, digest string, key crypto.PrivateKey, chain []*x509.Certificate, mediaType string) {
	t.Helper()
	s, err := signer.NewGenericSigner(key, chain)
	if err != nil {
		t.Fatal(err)
	}
	_, err = notationgo.Sign(context.Background(), s, notationRepo(t, repo), notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{SignatureMediaType: mediaType},
		ArtifactReference: repo + "@" + digest,
	})
	if err != nil {
		t.Fatalf("notation sign %s@%s: %v", repo, digest, err)
	}
}

// envelope signs target with notation-core-go directly (a chosen signing
// time, a chosen descriptor) and returns the JWS envelope.
func envelope(t testing.TB, target ocispec.Descriptor, key crypto.PrivateKey, chain []*x509.Certificate, signingTime time.Time) []byte {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"targetArtifact": target})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := signature.NewLocalSigner(chain, key)
	if err != nil {
		t.Fatal(err)
	}
	env, err := signature.NewEnvelope(jws.MediaTypeEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := env.Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: payloadType, Content: payload},
		Signer:        ls,
		SigningTime:   signingTime,
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "ferry-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// pushEnvelope pushes env as a Notation signature referrer of
// repo@subject, with notation-go's registry client.
func pushEnvelope(t testing.TB, repo string, subject ocispec.Descriptor, mediaType string, env []byte) {
	t.Helper()
	if _, _, err := notationRepo(t, repo).PushSignature(context.Background(), mediaType, env, subject, nil); err != nil {
		t.Fatal(err)
	}
}

// describe is repo@digest's descriptor as notation resolves it.
func describe(t testing.TB, repo, digest string) ocispec.Descriptor {
	t.Helper()
	d, err := notationRepo(t, repo).Resolve(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writePolicy writes a trust policy document and returns its path.
func writePolicy(t testing.TB, dir, doc string) string {
	t.Helper()
	p := filepath.Join(dir, "trustpolicy.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
