package notation

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/agent/trust/notation/notationtest"
)

// FuzzParsePolicy: the trust-policy loader never panics; what it accepts
// passes notation's own validation, and every error says where or why.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(trustPolicy("registry.example")))
	f.Add([]byte(trustPolicy("127.0.0.1:5000")))
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"all","registryScopes":["*"],"signatureVerification":{"level":"audit","override":{"revocation":"skip"}},"trustStores":["ca:acme","tsa:ts"],"trustedIdentities":["*"]}]}`))
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"s","registryScopes":["*"],"signatureVerification":{"level":"strict","verifyTimestamp":"afterCertExpiry"},"trustStores":["signingAuthority:x"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=example"]}]}`))
	f.Add([]byte("{\n \"version\": \"1.0\",\n \"trustPolicies\": [}"))
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parsePolicy(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := doc.Validate(); err != nil {
			t.Fatalf("accepted a document notation refuses: %v", err)
		}
		for _, ref := range []string{"registry.example/shop/good@sha256:" + strings.Repeat("ab", 32), "127.0.0.1:5000/a@sha256:00", "@", ""} {
			if p, err := doc.GetApplicableTrustPolicy(ref); err == nil {
				if _, err := p.SignatureVerification.GetVerificationLevel(); err != nil {
					t.Fatalf("policy %q: %v", p.Name, err)
				}
			}
		}
	})
}

// FuzzVerifyEnvelope: any envelope bytes under either media type give a
// Result, never a panic or an error, and only the untouched good envelope
// is trusted.
func FuzzVerifyEnvelope(f *testing.F) {
	dir := f.TempDir()
	acme := notationtest.NewCA(f, "ferry test root", "example")
	acme.WriteStore(f, filepath.Join(dir, "truststore"), "acme")
	cfg := &config.NotationTrust{TrustPolicy: writePolicy(f, dir, trustPolicy("registry.example")), TrustStore: filepath.Join(dir, "truststore")}
	reg := &fakeRegistry{}
	target, _ := reg.Describe(f.Context(), "", "", false)
	key, chain := acme.Leaf(f, "ci", "example", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	good := envelope(f, ocispec.Descriptor{MediaType: target.MediaType, Digest: ocidigest(target.Digest), Size: target.Size}, key, chain, time.Now())
	v, err := New(cfg, reg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false)
	f.Add(tamper(f, good), false)
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40}, true)
	f.Add([]byte(`{"payload":"","protected":"","header":{},"signature":""}`), false)
	img := trust.Image{Repo: "registry.example/shop/good", Digest: target.Digest}
	f.Fuzz(func(t *testing.T, env []byte, isCOSE bool) {
		mt := jws.MediaTypeEnvelope
		if isCOSE {
			mt = cose.MediaTypeEnvelope
		}
		reg := &fakeRegistry{arts: []registry.Artifact{{Digest: "sha256:" + strings.Repeat("cd", 32), MediaType: mt, Data: env}}}
		vv := *v
		vv.reg = reg
		res, err := vv.Verify(t.Context(), img)
		if err != nil {
			t.Fatal(err)
		}
		if res.Trusted() && !(mt == jws.MediaTypeEnvelope && bytes.Equal(env, good)) {
			t.Fatalf("trusted an envelope that is not the good one: %q", env)
		}
		if !res.Trusted() && len(res.Problems) == 0 {
			t.Fatal("untrusted without a problem")
		}
	})
}
