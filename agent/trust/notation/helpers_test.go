package notation

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ferry-dev/ferry/agent/trust/notation/notationtest"
	"github.com/ferry-dev/ferry/internal/registrytest"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/jws"
)

// startRegistry is the real distribution registry (registrytest).
func startRegistry(t testing.TB) string { return registrytest.Start(t) }

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
	if _, _, err := notationtest.Repository(t, repo).PushSignature(context.Background(), mediaType, env, subject, nil); err != nil {
		t.Fatal(err)
	}
}

// describe is repo@digest's descriptor as notation resolves it.
func describe(t testing.TB, repo, digest string) ocispec.Descriptor {
	t.Helper()
	d, err := notationtest.Repository(t, repo).Resolve(context.Background(), digest)
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
