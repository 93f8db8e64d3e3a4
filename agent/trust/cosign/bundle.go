package cosign

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// verifyBundle verifies one sigstore bundle referrer of img and adds what
// it proves, or why not, to res.
func (v *Verifier) verifyBundle(img trust.Image, a registry.Artifact, res *trust.Result) {
	where := "bundle " + short(a.Digest)
	problem := func(format string, args ...any) {
		res.Problems = append(res.Problems, where+": "+fmt.Sprintf(format, args...))
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(a.Data); err != nil {
		problem("not a sigstore bundle: %v", err)
		return
	}
	vc, err := b.VerificationContent()
	if err != nil {
		problem("no verification material: %v", err)
		return
	}
	sc, err := b.SignatureContent()
	if err != nil {
		problem("no signature: %v", err)
		return
	}
	hexDigest := strings.TrimPrefix(img.Digest, "sha256:")
	if sc.MessageSignatureContent() != nil {
		// cosign signs an image with a DSSE statement naming its digest; a
		// message signature is what `cosign sign-blob` makes of any file,
		// a manifest's bytes included, and `cosign verify` refuses it too.
		problem("a message signature (cosign sign-blob of some bytes), not a signature of an image: cosign signs images with a statement naming their digest")
		return
	}
	// The statement's subject is checked below, with a Problem of its own.
	artifact := verify.WithoutArtifactUnsafe()

	var sig trust.Signature
	var vr *verify.VerificationResult
	switch {
	case vc.Certificate() != nil:
		sig, vr = v.verifyKeyless(&b, artifact, problem)
	case vc.PublicKey() != nil:
		sig, vr = v.verifyKeyed(&b, artifact, problem)
	default:
		problem("neither a certificate nor a public key")
	}
	if vr == nil {
		return
	}
	sig.Format = "bundle"
	// Only a signed time orders attestations: the referrer's created
	// annotation is anyone's to set (see signedTime).
	var created time.Time
	if len(vr.VerifiedTimestamps) > 0 {
		created = vr.VerifiedTimestamps[0].Timestamp.UTC()
	}

	env := sc.EnvelopeContent()
	if env == nil {
		res.Signatures = append(res.Signatures, sig)
		return
	}
	raw := env.RawEnvelope()
	payload, err := base64.StdEncoding.DecodeString(raw.Payload)
	if err != nil {
		problem("signed by %s: payload is not base64: %v", sig, err)
		return
	}
	st, err := parseStatement(raw.PayloadType, payload)
	if err != nil {
		problem("signed by %s: %v", sig, err)
		return
	}
	if ok, other := st.names(hexDigest); !ok {
		problem("signed by %s: statement names %s, not this image", sig, other)
		return
	}
	if st.PredicateType == SignPredicateType {
		res.Signatures = append(res.Signatures, sig)
		return
	}
	res.Attestations = append(res.Attestations, trust.Attestation{
		Type:          AttestationType(st.PredicateType),
		PredicateType: st.PredicateType,
		Predicate:     st.predicate(),
		Signer:        sig,
		Created:       cmp.Or(created, st.signedTime()),
	})
}

func (v *Verifier) verifyKeyed(b *bundle.Bundle, artifact verify.ArtifactPolicyOption, problem func(string, ...any)) (trust.Signature, *verify.VerificationResult) {
	if len(v.keys) == 0 {
		problem("signed with a key, and no cosign keys are configured")
		return trust.Signature{}, nil
	}
	var errs []string
	for _, k := range v.keys {
		sv, err := verify.NewVerifier(k.material, verify.WithNoObserverTimestamps())
		if err != nil {
			problem("key %s: %v", k.path, err)
			return trust.Signature{}, nil
		}
		vr, err := sv.Verify(b, verify.NewPolicy(artifact, verify.WithKey()))
		if err == nil {
			return trust.Signature{Kind: trust.KindCosign, Signer: k.fingerprint, Key: k.path}, vr
		}
		errs = append(errs, k.path+": "+errText(err))
	}
	problem("signature does not verify with any configured key (%s)", strings.Join(errs, "; "))
	return trust.Signature{}, nil
}

func (v *Verifier) verifyKeyless(b *bundle.Bundle, artifact verify.ArtifactPolicyOption, problem func(string, ...any)) (trust.Signature, *verify.VerificationResult) {
	who := "a certificate"
	if c, err := b.VerificationContent(); err == nil && c.Certificate() != nil {
		if s := certSubject(c.Certificate()); s != "" {
			who = s
		}
	}
	if v.root == nil {
		problem("keyless signature by %s, and no cosign trustedRoot is configured", who)
		return trust.Signature{}, nil
	}
	// Offline, a short-lived certificate is checked at a time something
	// trusted observed: a transparency log entry the root's Rekor key
	// signed, or an RFC 3161 timestamp from the root's TSA. Never now.
	var opts []verify.VerifierOption
	if len(b.VerificationMaterial.GetTlogEntries()) > 0 && len(v.root.RekorLogs()) > 0 {
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithObserverTimestamps(1))
	} else {
		opts = append(opts, verify.WithSignedTimestamps(1))
	}
	if len(v.root.CTLogs()) > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	sv, err := verify.NewVerifier(v.root, opts...)
	if err != nil {
		problem("keyless signature by %s: %v", who, err)
		return trust.Signature{}, nil
	}
	pol := []verify.PolicyOption{}
	for _, id := range v.ids {
		pol = append(pol, verify.WithCertificateIdentity(id))
	}
	vr, err := sv.Verify(b, verify.NewPolicy(artifact, pol...))
	if err != nil {
		problem("keyless signature by %s does not verify: %s", who, errText(err))
		return trust.Signature{}, nil
	}
	cs := vr.Signature.Certificate
	return trust.Signature{Kind: trust.KindSigstore, Signer: cs.SubjectAlternativeName, Issuer: cs.Issuer}, vr
}

// errText is err's message without the "%!w(<nil>)" sigstore-go leaves in
// some of its threshold errors.
func errText(err error) string {
	return strings.ReplaceAll(err.Error(), "; error: %!w(<nil>)", "")
}
