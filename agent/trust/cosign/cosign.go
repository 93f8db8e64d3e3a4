// Package cosign verifies cosign signatures and signed attestations of an
// image offline: sigstore bundles attached as OCI referrers (cosign v3's
// default) and cosign's older sha256-<hex>.sig / .att tags, against the
// keys and the keyless trusted root and identities of ferry.yaml. Nothing
// here reaches a transparency log or a timestamp authority: a keyless
// certificate verifies only with an RFC 3161 timestamp or a Rekor entry
// (signed entry timestamp, and the inclusion proof a v0.2+ bundle has)
// that the signature carries and the trusted root's TSA or Rekor key
// vouches for; never at the current time, so an expired certificate with no
// such time is refused. SCTs are required when the trusted root lists CT
// logs. A key signature needs no time at all (cosign sign --key
// --tlog-upload=false makes none).
package cosign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// Defaults for the bounds of one verification.
const (
	// DefaultMaxArtifactBytes caps one sigstore bundle or one layer of a
	// .sig/.att tag: a bundle is a few KiB, an attestation with a large
	// SBOM or vulnerability report a few MiB.
	DefaultMaxArtifactBytes = 4 << 20
	// DefaultMaxSignatures caps the bundles, and the layers of each tag,
	// examined per image; more are reported in a Problem, never read.
	DefaultMaxSignatures = 32
)

// Media and artifact types cosign writes.
const (
	// BundleType is the artifact type (and layer media type) of a
	// sigstore bundle referrer, as cosign 3 writes it.
	BundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// SignPredicateType is the predicate of cosign 3's image signature: a
	// DSSE statement over the image digest with an empty predicate.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

	simpleSigningType = "application/vnd.dev.cosign.simplesigning.v1+json"
	dsseLayerType     = "application/vnd.dsse.envelope.v1+json"
	sigAnnotation     = "dev.cosignproject.cosign/signature"
	certAnnotation    = "dev.sigstore.cosign/certificate"
)

// bundleTypes are the bundle media types read: cosign writes v0.3; older
// tools wrote the others.
var bundleTypes = []string{
	BundleType,
	"application/vnd.dev.sigstore.bundle+json;version=0.3",
	"application/vnd.dev.sigstore.bundle+json;version=0.2",
	"application/vnd.dev.sigstore.bundle+json;version=0.1",
}

var timeZero time.Time

// Registry is what the verifier reads from a registry; *registry.Client
// implements it.
type Registry interface {
	ReferrersUpTo(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, maxCount int, insecure bool) ([]registry.Artifact, int, error)
	TagLayers(ctx context.Context, repo, tag string, maxLayers int, maxBytes int64, insecure bool) ([]registry.Layer, int, error)
}

var _ Registry = (*registry.Client)(nil)

// Option tunes a Verifier.
type Option func(*Verifier)

// WithMaxArtifactBytes caps each bundle or tag layer read (default
// DefaultMaxArtifactBytes).
func WithMaxArtifactBytes(n int64) Option {
	return func(v *Verifier) {
		if n > 0 {
			v.maxBytes = n
		}
	}
}

// WithMaxSignatures caps the bundles, and the layers of each tag, examined
// per image (default DefaultMaxSignatures).
func WithMaxSignatures(n int) Option {
	return func(v *Verifier) {
		if n > 0 {
			v.maxSigs = n
		}
	}
}

// Verifier verifies cosign signatures and attestations; it implements
// trust.Verifier and is safe for concurrent use.
type Verifier struct {
	reg      Registry
	keys     []*key
	root     *root.TrustedRoot
	ids      []verify.CertificateIdentity
	maxBytes int64
	maxSigs  int
}

var _ trust.Verifier = (*Verifier)(nil)

// New loads and checks the trust material of cfg: every key file must hold
// a supported public key, the trusted root must parse and hold a
// certificate authority and a timestamp authority or transparency log, and
// identities (required with the trusted root, and only with it) must each
// name an issuer and a subject whose regular expressions compile. The
// error names the file or identity and the reason. Regular expressions
// must match the whole issuer or subject (unlike cosign's
// --certificate-identity-regexp, which matches anywhere).
func New(cfg *config.CosignTrust, reg Registry, opts ...Option) (*Verifier, error) {
	if cfg == nil {
		return nil, errors.New("cosign: no configuration")
	}
	if reg == nil {
		return nil, errors.New("cosign: no registry")
	}
	v := &Verifier{reg: reg, maxBytes: DefaultMaxArtifactBytes, maxSigs: DefaultMaxSignatures}
	for _, o := range opts {
		o(v)
	}
	if len(cfg.Keys) == 0 && cfg.TrustedRoot == "" {
		return nil, errors.New("cosign: neither keys nor a trustedRoot: nothing could verify")
	}
	for _, p := range cfg.Keys {
		k, err := loadKey(p)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, k)
	}
	switch {
	case cfg.TrustedRoot != "":
		if len(cfg.Identities) == 0 {
			return nil, fmt.Errorf("cosign trustedRoot %s: identities are required: without them any certificate the root issued would verify", cfg.TrustedRoot)
		}
		tr, err := loadRoot(cfg.TrustedRoot)
		if err != nil {
			return nil, err
		}
		ids, err := identities(cfg.Identities, "cosign")
		if err != nil {
			return nil, err
		}
		v.root, v.ids = tr, ids
	case len(cfg.Identities) > 0:
		return nil, errors.New("cosign identities need a trustedRoot that their certificates chain to")
	}
	return v, nil
}

// Verify reads img's bundles and cosign tags and verifies each. A
// signature or attestation that does not verify is a Problem; an error
// means the registry could not be read.
func (v *Verifier) Verify(ctx context.Context, img trust.Image) (trust.Result, error) {
	var res trust.Result
	hexDigest, ok := strings.CutPrefix(img.Digest, "sha256:")
	if !ok || len(hexDigest) != 64 {
		return res, fmt.Errorf("cosign verify %s@%s: not a sha256 digest", img.Repo, img.Digest)
	}
	if err := v.verifyBundles(ctx, img, &res); err != nil {
		return trust.Result{}, err
	}
	if err := v.verifyTags(ctx, img, hexDigest, &res); err != nil {
		return trust.Result{}, err
	}
	if !res.Trusted() && len(res.Problems) == 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("no cosign signature of %s", img.Digest))
	}
	return res, nil
}

func (v *Verifier) verifyBundles(ctx context.Context, img trust.Image, res *trust.Result) error {
	arts, more, err := v.reg.ReferrersUpTo(ctx, img.Repo, img.Digest, bundleTypes, v.maxBytes, v.maxSigs, img.Insecure)
	if err != nil {
		return fmt.Errorf("cosign bundles of %s@%s: %w", img.Repo, img.Digest, err)
	}
	if more > 0 {
		msg := fmt.Sprintf("%d more sigstore bundles not examined (at most %d per image)", more, v.maxSigs)
		res.Problems = append(res.Problems, msg)
		incomplete(res, msg)
	}
	for _, a := range arts {
		if a.Err != nil {
			// Unreadable, not unsigned: a garbage referrer anyone can push
			// must not keep the image's good signature from counting. It
			// may have been an attestation, though (a newer scan deleted):
			// the ones read are not the whole story.
			msg := fmt.Sprintf("bundle %s: not read: %v", short(a.Digest), a.Err)
			res.Problems = append(res.Problems, msg)
			incomplete(res, msg)
			continue
		}
		v.verifyBundle(img, a, res)
	}
	return nil
}

// incomplete marks res as not the whole of what the registry holds.
func incomplete(res *trust.Result, why string) {
	if res.Incomplete == "" {
		res.Incomplete = why
	}
}

func (v *Verifier) verifyTags(ctx context.Context, img trust.Image, hexDigest string, res *trust.Result) error {
	for _, suffix := range []string{".sig", ".att"} {
		tag := "sha256-" + hexDigest + suffix
		layers, more, err := v.reg.TagLayers(ctx, img.Repo, tag, v.maxSigs, v.maxBytes, img.Insecure)
		if registry.IsNotFound(err) {
			continue
		}
		if err != nil && ctx.Err() == nil && (errors.Is(err, registry.ErrTooLarge) || errors.Is(err, registry.ErrBadArtifact)) {
			// The registry answered with a tag that is not a readable
			// signature: a problem of that tag, not a registry that cannot
			// be read (which would hold the app back).
			msg := fmt.Sprintf("tag %s: not read: %v", tag, err)
			res.Problems = append(res.Problems, msg)
			incomplete(res, msg)
			continue
		}
		if err != nil {
			return fmt.Errorf("cosign tag %s of %s: %w", tag, img.Repo, err)
		}
		if more > 0 {
			msg := fmt.Sprintf("tag %s: %d more layers not examined (at most %d)", tag, more, v.maxSigs)
			res.Problems = append(res.Problems, msg)
			incomplete(res, msg)
		}
		for _, l := range layers {
			if suffix == ".sig" {
				v.verifySigLayer(img, tag, l, res)
			} else {
				v.verifyAttLayer(img, tag, l, res)
			}
		}
	}
	return nil
}

// ioLimit is io.LimitReader, named for readTrustFile.
func ioLimit(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }

// short is a digest cut for a Problem.
func short(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}
