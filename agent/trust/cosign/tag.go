package cosign

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

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
	k := v.keyFor(sig, l.Data)
	if k == nil {
		v.tagUnverified(l, problem)
		return
	}
	s := trust.Signature{Kind: trust.KindCosign, Signer: k.fingerprint, Key: k.path, Format: "tag"}
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
	if k == nil {
		v.tagUnverified(l, problem)
		return
	}
	s := trust.Signature{Kind: trust.KindCosign, Signer: k.fingerprint, Key: k.path, Format: "tag"}
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

// tagUnverified says why a tag layer verified with no key.
func (v *Verifier) tagUnverified(l registry.Layer, problem func(string, ...any)) {
	if _, ok := l.Annotations[certAnnotation]; ok {
		problem("keyless signature in cosign's tag format, which is verified only in a sigstore bundle (cosign sign --new-bundle-format)")
		return
	}
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
