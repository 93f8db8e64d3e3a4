// Package notation verifies Notary Project (Notation) signatures of an
// image offline, with notation's own trust policy (trustpolicy.json) and
// trust store (x509/{ca,signingAuthority,tsa}/NAME/*.pem) formats and
// notation-go's verifier. The signatures are read as OCI referrers through
// ferry's registry client; nothing else talks to the registry, and
// revocation is never looked up over the network.
package notation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/notaryproject/notation-core-go/revocation"
	crlutil "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// ArtifactType is the artifact type of a Notation signature referrer.
const ArtifactType = "application/vnd.cncf.notary.signature"

// Bounds on what one image may make ferry read.
const (
	// MaxEnvelopeBytes caps one signature envelope.
	MaxEnvelopeBytes = 2 << 20
	// MaxSignatures caps the signatures examined per image; the rest are
	// named in a Problem.
	MaxSignatures = 32
)

// payloadType is the Notary Project payload inside an envelope.
const payloadType = "application/vnd.cncf.notary.payload.v1+json"

// Registry is what the verifier reads from a registry; agent/registry's
// Client implements it.
type Registry interface {
	// Describe returns repo@digest's media type and size, which a
	// Notation signature signs along with the digest.
	Describe(ctx context.Context, repo, digest string, insecure bool) (registry.Descriptor, error)
	// ReferrersUpTo returns at most maxCount referrers of repo@digest of
	// the given artifact types, each with its first layer (at most
	// maxBytes), and how many were left unread.
	ReferrersUpTo(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, maxCount int, insecure bool) ([]registry.Artifact, int, error)
}

// Verifier verifies the Notation signatures of images; it implements
// trust.Verifier and is safe for concurrent use.
type Verifier struct {
	policyFile string
	policy     *trustpolicy.Document
	store      truststore.X509TrustStore
	verifier   notationgo.Verifier
	reg        Registry
}

var _ trust.Verifier = (*Verifier)(nil)

// New loads and checks cfg's trust policy and every trust store it names.
// An error names the file and the reason.
func New(cfg *config.NotationTrust, reg Registry) (*Verifier, error) {
	if cfg == nil || cfg.TrustPolicy == "" || cfg.TrustStore == "" {
		return nil, errors.New("notation: trustPolicy and trustStore are required")
	}
	if reg == nil {
		return nil, errors.New("notation: no registry client")
	}
	doc, err := loadPolicy(cfg.TrustPolicy)
	if err != nil {
		return nil, err
	}
	store, err := loadStores(context.Background(), doc, cfg.TrustStore)
	if err != nil {
		return nil, err
	}
	codeSigning, err := offlineRevocation(purpose.CodeSigning)
	if err != nil {
		return nil, err
	}
	timestamping, err := offlineRevocation(purpose.Timestamping)
	if err != nil {
		return nil, err
	}
	// No plugin manager: a signature that requires a verification plugin
	// is inconclusive, hence not trusted.
	v, err := verifier.NewWithOptions(doc, store, nil, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  codeSigning,
		RevocationTimestampingValidator: timestamping,
	})
	if err != nil {
		return nil, fmt.Errorf("notation trust policy %s: %w", cfg.TrustPolicy, err)
	}
	return &Verifier{policyFile: cfg.TrustPolicy, policy: doc, store: store, verifier: v, reg: reg}, nil
}

// offlineRevocation is notation's revocation validator with every OCSP
// and CRL request refused: ferry verifies offline. A certificate without
// OCSP or CRL endpoints is non-revocable and passes; one with them has an
// unknown status, which fails the strict level (revocation enforced) and is
// logged at the others, as notation decides.
func offlineRevocation(p purpose.Purpose) (revocation.Validator, error) {
	return revocation.NewWithOptions(revocation.Options{
		OCSPHTTPClient:   &http.Client{Transport: refuse{}},
		CRLFetcher:       refuse{},
		CertChainPurpose: p,
	})
}

// Verify reads the Notation signatures of img and verifies each under the
// trust policy whose registryScopes name img.Repo (notation matches the
// artifact reference host/repo, e.g. 127.0.0.1:5000/shop/checkout, exactly,
// else the "*" policy). An error means the registry could not be read.
func (v *Verifier) Verify(ctx context.Context, img trust.Image) (trust.Result, error) {
	var res trust.Result
	ref := img.Repo + "@" + img.Digest
	opts := notationgo.VerifierVerifyOptions{ArtifactReference: ref}
	policy, err := v.policy.GetApplicableTrustPolicy(ref)
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("no trust policy of %s applies to %s: %v", v.policyFile, img.Repo, err))
		return res, nil
	}
	level, _ := policy.SignatureVerification.GetVerificationLevel() // validated by New
	if level.Name == trustpolicy.LevelSkip.Name {
		// notation's skip accepts the image unverified; ferry takes an image
		// only on a verified signature, so skip can never make it trusted.
		res.Problems = append(res.Problems, fmt.Sprintf("trust policy %q of %s skips Notation verification for %s: not trusted", policy.Name, v.policyFile, img.Repo))
		return res, nil
	}

	arts, unread, err := v.reg.ReferrersUpTo(ctx, img.Repo, img.Digest, []string{ArtifactType}, MaxEnvelopeBytes, MaxSignatures, img.Insecure)
	if err != nil {
		if errors.Is(err, registry.ErrTooLarge) && ctx.Err() == nil {
			// The registry answered, with more than ferry reads (a listing
			// too large): refused.
			res.Problems = append(res.Problems, printable(fmt.Sprintf("Notation signatures not read: %v", err)))
			return res, nil
		}
		return res, fmt.Errorf("notation signatures of %s: %w", ref, err)
	}
	if len(arts) == 0 {
		res.Problems = append(res.Problems, "no Notation signature")
		if unread > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("%d more Notation signature(s) not examined (at most %d per image)", unread, MaxSignatures))
		}
		return res, nil
	}
	d, err := v.reg.Describe(ctx, img.Repo, img.Digest, img.Insecure)
	if err != nil {
		return res, fmt.Errorf("notation: %w", err)
	}
	target := ocispec.Descriptor{MediaType: d.MediaType, Digest: ocidigest(d.Digest), Size: d.Size}

	for _, a := range arts {
		if err := ctx.Err(); err != nil {
			return trust.Result{}, err
		}
		if a.Err != nil {
			// Unreadable, not unsigned: a garbage referrer anyone can push
			// must not keep a good signature from counting.
			res.Problems = append(res.Problems, printable(fmt.Sprintf("Notation signature %s: not read: %v", short(a.Digest), a.Err)))
			continue
		}
		sig, problem := v.verifyOne(ctx, a, target, policy, level, opts)
		if problem != "" {
			res.Problems = append(res.Problems, printable(problem))
			continue
		}
		// The same signer signing twice is one signer to the policies.
		if !slices.Contains(res.Signatures, sig) {
			res.Signatures = append(res.Signatures, sig)
		}
	}
	if unread > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d more Notation signature(s) not examined (at most %d per image)", unread, MaxSignatures))
	}
	return res, nil
}

// verifyOne verifies one envelope: a Signature, or the Problem that says
// what failed.
func (v *Verifier) verifyOne(ctx context.Context, a registry.Artifact, target ocispec.Descriptor, policy *trustpolicy.TrustPolicy, level *trustpolicy.VerificationLevel, opts notationgo.VerifierVerifyOptions) (sig trust.Signature, problem string) {
	name := "Notation signature " + short(a.Digest)
	// The envelope is the signer's (or anyone's) bytes; should notation's
	// parsers fail on them in a way they did not foresee, that signature
	// is refused, not the process.
	defer func() {
		if r := recover(); r != nil {
			sig, problem = trust.Signature{}, fmt.Sprintf("%s: the envelope could not be verified: %v", name, r)
		}
	}()
	if a.MediaType != jws.MediaTypeEnvelope && a.MediaType != cose.MediaTypeEnvelope {
		return sig, fmt.Sprintf("%s: envelope media type %q is neither %s nor %s", name, a.MediaType, jws.MediaTypeEnvelope, cose.MediaTypeEnvelope)
	}
	opts.SignatureMediaType = a.MediaType
	outcome, err := v.verifier.Verify(ctx, target, a.Data, opts)
	if outcome == nil {
		if err == nil {
			err = errors.New("no outcome")
		}
		return sig, fmt.Sprintf("%s: %v", name, err)
	}
	var leaf *x509.Certificate
	if outcome.EnvelopeContent != nil && len(outcome.EnvelopeContent.SignerInfo.CertificateChain) > 0 {
		leaf = outcome.EnvelopeContent.SignerInfo.CertificateChain[0]
		subject := leaf.Subject.String()
		if len(subject) > 200 { // so that the reason still fits the Problem
			subject = strings.ToValidUTF8(subject[:200], "") + "…"
		}
		name += fmt.Sprintf(" by %q", subject)
	}
	if err != nil {
		return sig, name + ": " + v.explain(outcome, err, target, policy)
	}
	// notation's audit level only logs an authenticity failure (a chain to
	// no trusted root, a signer outside trustedIdentities) and passes the
	// signature. ferry trusts an image only on a signature whose signer is
	// known, so at any level a logged integrity or authenticity failure
	// leaves the signature untrusted. Expiry, authentic timestamp and
	// revocation follow the level as notation defines it (strict enforces
	// them, permissive and audit log them).
	for _, r := range outcome.VerificationResults {
		if r.Error != nil && (r.Type == trustpolicy.TypeIntegrity || r.Type == trustpolicy.TypeAuthenticity) {
			return sig, fmt.Sprintf("%s: %s (trust policy %q is at level %s, which only logs this; ferry trusts only an authentic signature)",
				name, v.explain(outcome, r.Error, target, policy), policy.Name, level.Name)
		}
	}
	if leaf == nil {
		return sig, name + ": no signing certificate in the envelope"
	}
	root, err := signature.VerifyAuthenticity(&outcome.EnvelopeContent.SignerInfo, v.trustCerts(ctx, policy, outcome.EnvelopeContent.SignerInfo.SignedAttributes.SigningScheme))
	if err != nil || root == nil {
		// Verify passed authenticity with these very stores: not reached
		// unless a store changed on disk in between.
		return sig, fmt.Sprintf("%s: no trusted root found again in the trust stores of trust policy %q", name, policy.Name)
	}
	return trust.Signature{
		Kind:   trust.KindNotation,
		Signer: leaf.Subject.String(),
		Issuer: root.Subject.String(),
		Format: trust.KindNotation,
	}, ""
}

// trustCerts are the certificates of the stores policy names that notation
// uses for scheme: ca and signingAuthority stores (the TSA store only roots
// timestamps).
func (v *Verifier) trustCerts(ctx context.Context, policy *trustpolicy.TrustPolicy, scheme signature.SigningScheme) []*x509.Certificate {
	want := truststore.TypeCA
	if scheme == signature.SigningSchemeX509SigningAuthority {
		want = truststore.TypeSigningAuthority
	}
	var certs []*x509.Certificate
	for _, ts := range policy.TrustStores {
		typ, name, _ := strings.Cut(ts, ":")
		if truststore.Type(typ) != want {
			continue
		}
		if cs, err := v.store.GetCertificates(ctx, want, name); err == nil {
			certs = append(certs, cs...)
		}
	}
	return certs
}

// explain says which of notation's checks failed, in ferry's words,
// followed by notation's own message.
func (v *Verifier) explain(outcome *notationgo.VerificationOutcome, err error, target ocispec.Descriptor, policy *trustpolicy.TrustPolicy) string {
	var failed *notationgo.ValidationResult
	for _, r := range outcome.VerificationResults {
		if r.Error != nil && (errors.Is(err, r.Error) || r.Error.Error() == err.Error()) {
			failed = r
			break
		}
	}
	if failed == nil {
		// Every check passed; the signature names something else.
		if other, ok := signedTarget(outcome); ok && !sameDescriptor(other, target) {
			return fmt.Sprintf("signs another artifact (%s, %d bytes, %s), not %s (%d bytes, %s)",
				other.Digest, other.Size, other.MediaType, target.Digest, target.Size, target.MediaType)
		}
		return err.Error()
	}
	stores := strings.Join(policy.TrustStores, ", ")
	switch failed.Type {
	case trustpolicy.TypeIntegrity:
		return fmt.Sprintf("the envelope does not verify (tampered or malformed): %v", err)
	case trustpolicy.TypeAuthenticity:
		var ae *signature.SignatureAuthenticityError
		var inc notationgo.ErrorVerificationInconclusive
		if errors.As(err, &ae) || errors.As(err, &inc) {
			return fmt.Sprintf("its certificate chain leads to no root in trust stores %s of trust policy %q: %v", stores, policy.Name, err)
		}
		return fmt.Sprintf("the signing certificate is not among the trustedIdentities %q of trust policy %q: %v", policy.TrustedIdentities, policy.Name, err)
	case trustpolicy.TypeAuthenticTimestamp:
		return fmt.Sprintf("a certificate is outside its validity period and no trusted timestamp vouches for the signing time: %v", err)
	case trustpolicy.TypeExpiry:
		return fmt.Sprintf("the signature has expired: %v", err)
	case trustpolicy.TypeRevocation:
		return fmt.Sprintf("revocation (checked offline: OCSP and CRL endpoints are not contacted): %v", err)
	}
	return fmt.Sprintf("%s: %v", failed.Type, err)
}

// signedTarget is the descriptor the envelope's payload signs.
func signedTarget(outcome *notationgo.VerificationOutcome) (ocispec.Descriptor, bool) {
	if outcome.EnvelopeContent == nil || outcome.EnvelopeContent.Payload.ContentType != payloadType {
		return ocispec.Descriptor{}, false
	}
	var p struct {
		TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
	}
	if err := json.Unmarshal(outcome.EnvelopeContent.Payload.Content, &p); err != nil {
		return ocispec.Descriptor{}, false
	}
	return p.TargetArtifact, true
}

func sameDescriptor(a, b ocispec.Descriptor) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.MediaType == b.MediaType
}

// maxProblemBytes caps one Problem: it quotes what a signer wrote.
const maxProblemBytes = 1024

// printable is a Problem safe for a terminal, a log line and a commit:
// notation's messages quote certificate subjects unescaped, and whoever
// pushed the signature chose the subject.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > maxProblemBytes {
		cut := maxProblemBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// short is a digest cut for a message: sha256:0123456789ab.
func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// refuse answers every revocation request of notation's validator with an
// error, so none leaves the process.
type refuse struct{}

var errOffline = errors.New("ferry verifies Notation signatures offline: OCSP and CRL endpoints are not contacted")

func (refuse) RoundTrip(*http.Request) (*http.Response, error)        { return nil, errOffline }
func (refuse) Fetch(context.Context, string) (*crlutil.Bundle, error) { return nil, errOffline }

func ocidigest(d string) godigest.Digest { return godigest.Digest(d) }
