package cosign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// maxEnvelopeSignatures caps the signatures of one DSSE envelope tried.
const maxEnvelopeSignatures = 8

// verifySigLayer verifies one layer of a sha256-<hex>.sig tag: a simple
// signing payload whose signature is the layer's annotation.
func (v *Verifier) verifySigLayer(img trust.Image, tag string, l registry.Layer, res *trust.Result) {
	problem := func(format string, args ...any) {
		res.Problems = append(res.Problems, fmt.Sprintf("tag %s layer %s: ", tag, short(l.Digest))+fmt.Sprintf(format, args...))
	}
	if l.MediaType != simpleSigningType {
		problem("media type %q is not a cosign signature", l.MediaType)
		return
	}
	b64, ok := l.Annotations[sigAnnotation]
	if !ok || b64 == "" {
		problem("no %s annotation", sigAnnotation)
		return
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		problem("signature annotation is not base64: %v", err)
		return
	}
	var s trust.Signature
	if k := v.keyFor(sig, l.Data); k != nil {
		s = trust.Signature{Kind: trust.KindCosign, Signer: k.fingerprint, Key: k.path, Format: "tag"}
	} else if _, keyless := l.Annotations[certAnnotation]; keyless {
		var ok bool
		if s, ok = v.verifyTagKeyless(l, sig, l.Data, nil, verify.WithArtifact(bytes.NewReader(l.Data)), problem); !ok {
			return
		}
	} else {
		v.tagUnverified(problem)
		return
	}
	d, err := parseSimpleSigning(l.Data)
	if err != nil {
		problem("signed by %s: %v", s, err)
		return
	}
	if d != img.Digest {
		problem("signed by %s: payload names %s, not this image", s, d)
		return
	}
	res.Signatures = append(res.Signatures, s)
}

// verifyAttLayer verifies one layer of a sha256-<hex>.att tag: a DSSE
// envelope holding an in-toto statement.
func (v *Verifier) verifyAttLayer(img trust.Image, tag string, l registry.Layer, res *trust.Result) {
	problem := func(format string, args ...any) {
		res.Problems = append(res.Problems, fmt.Sprintf("tag %s layer %s: ", tag, short(l.Digest))+fmt.Sprintf(format, args...))
	}
	if l.MediaType != dsseLayerType {
		problem("media type %q is not a DSSE envelope", l.MediaType)
		return
	}
	env, payload, err := parseEnvelope(l.Data)
	if err != nil {
		problem("%v", err)
		return
	}
	pae := dsse.PAE(env.PayloadType, payload)
	var k *key
	for i, s := range env.Signatures {
		if i == maxEnvelopeSignatures {
			break
		}
		sig, err := base64.StdEncoding.DecodeString(s.Sig)
		if err != nil {
			continue
		}
		if k = v.keyFor(sig, pae); k != nil {
			break
		}
	}
	var s trust.Signature
	if k != nil {
		s = trust.Signature{Kind: trust.KindCosign, Signer: k.fingerprint, Key: k.path, Format: "tag"}
	} else if _, keyless := l.Annotations[certAnnotation]; keyless {
		pe := &protodsse.Envelope{Payload: payload, PayloadType: env.PayloadType}
		for _, es := range env.Signatures {
			sig, err := base64.StdEncoding.DecodeString(es.Sig)
			if err != nil {
				problem("DSSE signature is not base64: %v", err)
				return
			}
			pe.Signatures = append(pe.Signatures, &protodsse.Signature{Sig: sig, Keyid: es.KeyID})
		}
		var ok bool
		// The statement's subject is checked below.
		if s, ok = v.verifyTagKeyless(l, nil, nil, pe, verify.WithoutArtifactUnsafe(), problem); !ok {
			return
		}
	} else {
		v.tagUnverified(problem)
		return
	}
	st, err := parseStatement(env.PayloadType, payload)
	if err != nil {
		problem("signed by %s: %v", s, err)
		return
	}
	if ok, other := st.names(strings.TrimPrefix(img.Digest, "sha256:")); !ok {
		problem("signed by %s: statement names %s, not this image", s, other)
		return
	}
	res.Attestations = append(res.Attestations, trust.Attestation{
		Type:          AttestationType(st.PredicateType),
		PredicateType: st.PredicateType,
		Predicate:     st.predicate(),
		Signer:        s,
		Created:       st.signedTime(),
	})
}

// parseEnvelope parses a DSSE envelope and decodes its payload.
func parseEnvelope(data []byte) (dsse.Envelope, []byte, error) {
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return env, nil, fmt.Errorf("not a DSSE envelope: %w", err)
	}
	if env.PayloadType == "" || env.Payload == "" {
		return env, nil, fmt.Errorf("DSSE envelope without payload")
	}
	if len(env.Signatures) == 0 {
		return env, nil, fmt.Errorf("DSSE envelope without signatures")
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		// DSSE allows URL-safe base64 too.
		if payload, err = base64.URLEncoding.DecodeString(env.Payload); err != nil {
			return env, nil, fmt.Errorf("DSSE payload is not base64: %w", err)
		}
	}
	return env, payload, nil
}

// keyFor is the configured key whose signature over msg sig is, or nil.
func (v *Verifier) keyFor(sig, msg []byte) *key {
	for _, k := range v.keys {
		for _, vf := range k.verifiers {
			if vf.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)) == nil {
				return k
			}
		}
	}
	return nil
}

// verifyTagKeyless verifies a tag layer's keyless signature: its
// certificate annotation, and the Rekor entry or RFC 3161 timestamp
// annotations that give the certificate a time, as a sigstore bundle.
func (v *Verifier) verifyTagKeyless(l registry.Layer, sig, payload []byte, env *protodsse.Envelope, artifact verify.ArtifactPolicyOption, problem func(string, ...any)) (trust.Signature, bool) {
	b, err := tagBundle(l, sig, payload, env)
	if err != nil {
		problem("keyless signature: %v", err)
		return trust.Signature{}, false
	}
	s, vr := v.verifyKeyless(b, artifact, problem)
	if vr == nil {
		return trust.Signature{}, false
	}
	s.Format = "tag"
	return s, true
}

// tagUnverified says why a tag layer's signature verified with no key.
func (v *Verifier) tagUnverified(problem func(string, ...any)) {
	if len(v.keys) == 0 {
		problem("signed with a key, and no cosign keys are configured")
		return
	}
	paths := make([]string, len(v.keys))
	for i, k := range v.keys {
		paths[i] = k.path
	}
	problem("signature does not verify with any configured key (%s)", strings.Join(paths, ", "))
}
