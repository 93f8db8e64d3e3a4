package cosign

import (
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// FuzzParseKey: any key file content is a key or an error, never a panic.
func FuzzParseKey(f *testing.F) {
	s := newSigner(f)
	f.Add(s.pem(f))
	f.Add([]byte("kind: Secret\ndata:\n  cosign.pub: " + b64(s.pem(f)) + "\n"))
	f.Add([]byte("kind: Secret\nstringData:\n  cosign.pub: |\n    -----BEGIN PUBLIC KEY-----\n    AAAA\n    -----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("kind: Secret\ndata: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := ParseKey(data)
		if err != nil {
			return
		}
		if _, err := newKey("fuzz.pub", pub); err != nil {
			t.Errorf("parsed key %T is unusable: %v", pub, err)
		}
	})
}

// FuzzPayloads: the parsers of signed payloads take anything.
func FuzzPayloads(f *testing.F) {
	d := "sha256:" + strings.Repeat("ab", 32)
	f.Add(statementJSON("ab", SignPredicateType, "{}"))
	f.Add(simpleSigningJSON("r", d))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"eA=="}]}`))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":null}],"predicateType":"x","predicate":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := parseStatement(inTotoPayloadType, data); err == nil {
			s.names("ab")
			_ = s.predicate()
		}
		_, _ = parseSimpleSigning(data)
		_, _, _ = parseEnvelope(data)
	})
}

// FuzzVerifyArtifact: whatever a registry serves as a bundle or tag layer,
// nothing verifies without the key, and nothing panics.
func FuzzVerifyArtifact(f *testing.F) {
	s := newSigner(f)
	dir := f.TempDir()
	fu := newFulcio(f)
	v, err := New(&config.CosignTrust{
		Keys: []string{s.write(f, dir, "cosign.pub")}, TrustedRoot: fu.trustedRoot(f, dir),
		Identities: []config.SignerIdentity{{Issuer: issuer, Subject: ciID}},
	}, registry.NewClient(registry.Options{}))
	if err != nil {
		f.Fatal(err)
	}
	img := trust.Image{Repo: "127.0.0.1:1/x", Digest: "sha256:" + strings.Repeat("ab", 32)}
	other := newSigner(f)
	st := statementJSON(img.Digest, SignPredicateType, "{}")
	f.Add(signBundleDSSE(f, other, st))
	f.Add(signBundleMessage(f, other, img.Digest))
	f.Add(fu.keyless(f, ciID, issuer, fu.rootCert.NotBefore, st, false))
	f.Add(attLayer(f, other, st).data)
	f.Add(simpleSigningJSON("x", img.Digest))
	f.Add([]byte(`{"SignedEntryTimestamp":"eA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":0,"logID":"00"}}`))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res trust.Result
		v.verifyBundle(img, registry.Artifact{Digest: "sha256:00", Data: data}, &res)
		v.verifySigLayer(img, "t.sig", registry.Layer{MediaType: simpleSigningType, Data: data, Annotations: map[string]string{sigAnnotation: b64(data)}}, &res)
		v.verifyAttLayer(img, "t.att", registry.Layer{MediaType: dsseLayerType, Data: data, Annotations: map[string]string{}}, &res)
		// Keyless in the tag format: the annotations are the registry's too.
		keyless := map[string]string{sigAnnotation: b64(data), certAnnotation: string(data), rekorAnnotation: string(data), tsaAnnotation: string(data)}
		v.verifySigLayer(img, "t.sig", registry.Layer{MediaType: simpleSigningType, Data: data, Annotations: keyless}, &res)
		v.verifyAttLayer(img, "t.att", registry.Layer{MediaType: dsseLayerType, Data: data, Annotations: keyless}, &res)
		if len(res.Signatures)+len(res.Attestations) > 0 {
			t.Fatalf("fuzzed bytes verified: %+v", res)
		}
		if len(res.Problems) != 5 {
			t.Fatalf("%d problems for 5 refusals: %q", len(res.Problems), res.Problems)
		}
	})
}
