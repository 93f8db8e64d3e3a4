// Package trust says whether an image can be trusted before it is a
// candidate: which of its signatures verify, against the keys, roots and
// trust policies of ferry.yaml, and which signed attestations about it
// (vulnerability scans, SBOMs, provenance) reach the policies. Each kind of
// signature has its own package (cosign, notation) behind Verifier; this
// package combines them per app and verifies a digest once.
package trust

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Image is what is verified: one digest of one repository.
type Image struct {
	Repo     string // host/path, no tag
	Digest   string // sha256:...
	Insecure bool   // plain HTTP to a non-loopback registry
}

// Signature kinds.
const (
	KindCosign   = "cosign"   // a cosign key
	KindSigstore = "sigstore" // a keyless certificate chained to a trusted root
	KindNotation = "notation" // a Notary Project signature under a trust policy
)

// Signature is one verified signature of an image: what verified it and
// who signed. It reaches the policies as input.candidate.signatures[_] and
// the promotion commit as a Ferry-Signed-By trailer (String).
type Signature struct {
	Kind string `json:"kind"`
	// Signer names who signed: a key's fingerprint (SHA256:<base64>), a
	// keyless certificate's subject (its SAN), or a Notation signing
	// certificate's subject DN.
	Signer string `json:"signer"`
	// Issuer is the keyless certificate's OIDC issuer, or the Notation
	// trust store's root that verified the chain; empty for a key.
	Issuer string `json:"issuer,omitempty"`
	// Key is the configured key file that verified it; empty otherwise.
	Key string `json:"key,omitempty"`
	// Format is where the signature was found: bundle (a sigstore bundle
	// referrer), tag (cosign's sha256-<hex>.sig tag), or notation.
	Format string `json:"format,omitempty"`
}

// String is the signature as one line, e.g.
// "cosign SHA256:abc… (keys/cosign.pub)" or "sigstore ci@example.com (https://issuer)".
func (s Signature) String() string {
	var b strings.Builder
	b.WriteString(s.Kind)
	b.WriteByte(' ')
	b.WriteString(s.Signer)
	switch {
	case s.Key != "":
		b.WriteString(" (" + s.Key + ")")
	case s.Issuer != "":
		b.WriteString(" (" + s.Issuer + ")")
	}
	return b.String()
}

// Attestation types, named as cosign attest --type names them; a
// predicate type without a short name keeps its URI.
const (
	AttestVuln       = "vuln"
	AttestProvenance = "slsaprovenance"
	AttestSPDX       = "spdxjson"
	AttestCycloneDX  = "cyclonedx"
)

// Attestation is one verified in-toto statement whose subject is the image.
// It reaches the policies as input.evidence.attestations[Type].
type Attestation struct {
	Type          string          `json:"type"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
	Signer        Signature       `json:"signer"`
	// Created is when it was signed, when the signature says (a bundle's
	// timestamp, the referrer's created annotation); zero otherwise.
	Created time.Time `json:"created,omitzero"`
}

// Result is what was verified about one image.
type Result struct {
	Signatures   []Signature
	Attestations []Attestation
	// Problems say, for each signature or attestation found that did not
	// verify, what failed ("signature by SHA256:… does not verify with
	// keys/cosign.pub", "attestation names another image"), for ferry plan
	// and the denial. They are never trusted.
	Problems []string
	// Incomplete, when set, says why some signatures or attestations were
	// not read (a referrer gone, malformed or over the cap). The
	// signatures read still count; the attestations do not, since a newer
	// one (a scan with a finding) may be among those unread.
	Incomplete string
}

// Trusted reports whether at least one signature verified.
func (r Result) Trusted() bool { return len(r.Signatures) > 0 }

// Why says in one line why r is not trusted, for ferry plan and a denial.
func (r Result) Why() string {
	if len(r.Problems) == 0 {
		return "no signature found"
	}
	return strings.Join(r.Problems, "; ")
}

// Merge adds o's findings to r.
func (r *Result) Merge(o Result) {
	r.Signatures = append(r.Signatures, o.Signatures...)
	r.Attestations = append(r.Attestations, o.Attestations...)
	r.Problems = append(r.Problems, o.Problems...)
	switch {
	case r.Incomplete == "":
		r.Incomplete = o.Incomplete
	case o.Incomplete != "":
		r.Incomplete += "; " + o.Incomplete
	}
}

// Verifier verifies one kind of signature of an image. Signatures that are
// absent or do not verify are not errors: they make a Result without
// Signatures, with the reason in Problems. An error means the registry
// could not be read (or the context ended): nothing is known, and the
// caller must not decide on it.
type Verifier interface {
	Verify(ctx context.Context, img Image) (Result, error)
}
