package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// DefaultMaxArtifactBytes caps an artifact blob when Referrers is given no
// positive cap.
const DefaultMaxArtifactBytes = 16 << 20

// ErrTooLarge marks a body over its cap: an artifact blob over the
// caller's, or any registry answer over the client's limits. It is
// httpx.ErrBodyTooLarge, so either name matches.
var ErrTooLarge = httpx.ErrBodyTooLarge

// Artifact is one OCI referrer of an image and the content of its first
// layer (for a Trivy report, the JSON itself).
type Artifact struct {
	ArtifactType string
	// Digest is the artifact manifest's digest.
	Digest string
	// Created is its org.opencontainers.image.created annotation; zero when
	// absent or unparsable.
	Created time.Time
	// Annotations are the artifact manifest's annotations (never nil).
	Annotations map[string]string
	// MediaType is the first layer's media type (for a Notation signature,
	// the envelope format: application/jose+json or application/cose).
	MediaType string
	Data      []byte
	// Err, set by ReferrersUpTo only, says why this listed artifact could
	// not be read (ErrBadArtifact, ErrTooLarge, not found); only Digest is
	// set then.
	// One malformed referrer anyone could push must not hide the others.
	Err error
}

// ErrBadArtifact marks a referrer whose manifest or layer is malformed:
// the registry answered, with something that is not a readable artifact.
var ErrBadArtifact = errors.New("malformed artifact")

// Referrers returns the artifacts that name repo@digest as their subject and
// whose artifact type (or, for older artifacts, config media type) is one of
// artifactTypes (all of them when artifactTypes is empty), newest first by
// their created annotation, undated ones last. Registries without the OCI
// 1.1 referrers API are read through the sha256-<hex> tag schema. A blob over
// maxBytes (DefaultMaxArtifactBytes when maxBytes <= 0) is an ErrTooLarge
// error and is not read past the cap.
func (c *Client) Referrers(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, insecure bool) ([]Artifact, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxArtifactBytes
	}
	subject, err := c.parseDigest(repo, digest, insecure)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, digest, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	arts, _, err := c.referrers(withBlobLimit(ctx, maxBytes), subject, artifactTypes, maxBytes, 0, false)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s@%s: %w", repo, digest, withCtxErr(ctx, err))
	}
	return arts, nil
}

// ReferrersUpTo is Referrers keeping at most maxCount artifacts, taken
// newest first by the created annotation the listing shows (undated ones
// last), so a registry listing thousands of referrers costs at most
// maxCount blob reads of at most maxBytes (and manifest reads within the
// lookup timeout). more counts the listings left unread once maxCount
// were kept: those listed with a wanted type, or with none (some of those
// may be of another type). maxCount <= 0 means no limit.
func (c *Client) ReferrersUpTo(ctx context.Context, repo, digest string, artifactTypes []string, maxBytes int64, maxCount int, insecure bool) (arts []Artifact, more int, err error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxArtifactBytes
	}
	subject, err := c.parseDigest(repo, digest, insecure)
	if err != nil {
		return nil, 0, fmt.Errorf("referrers of %s@%s: %w", repo, digest, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	arts, more, err = c.referrers(withBlobLimit(ctx, maxBytes), subject, artifactTypes, maxBytes, maxCount, true)
	if err != nil {
		return nil, 0, fmt.Errorf("referrers of %s@%s: %w", repo, digest, withCtxErr(ctx, err))
	}
	return arts, more, nil
}

// referrers reads the listed referrers of wanted types. maxCount > 0
// bounds the manifests fetched (of any type: a listing may not say), the
// newest listed first. With tolerate, a malformed or oversized artifact is
// returned with its Err instead of failing the whole call.
func (c *Client) referrers(ctx context.Context, subject name.Digest, want []string, maxBytes int64, maxCount int, tolerate bool) ([]Artifact, int, error) {
	opts := c.options(ctx)
	// One puller for all requests, so the registry ping and token exchange
	// happen once.
	p, err := remote.NewPuller(opts...)
	if err != nil {
		return nil, 0, err
	}
	// The registry's artifactType filter is optional and ggcr's client-side
	// one trusts the listed type; we filter ourselves below.
	idx, err := remote.Referrers(subject, append(opts, remote.Reuse(p))...)
	if err != nil {
		return nil, 0, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, 0, err
	}
	var listed []v1.Descriptor
	for _, d := range im.Manifests {
		// Some registries list the config media type instead of the
		// artifactType (ggcr's own does), so an empty-config listing is
		// decided by the manifest itself.
		if typ := d.ArtifactType; typ != "" && typ != string(types.OCIEmptyJSON) && !wanted(want, typ) {
			continue
		}
		listed = append(listed, d)
	}
	if maxCount > 0 {
		// Newest first as listed, so the cap drops the oldest.
		slices.SortStableFunc(listed, func(a, b v1.Descriptor) int {
			return newestFirst(parseCreated(a.Annotations), parseCreated(b.Annotations))
		})
	}
	more := 0
	var out []Artifact
	for i, d := range listed {
		if maxCount > 0 && i == maxCount {
			more = len(listed) - i
			break
		}
		a, ok, err := c.fetchArtifact(ctx, p, subject.Context().Digest(d.Digest.String()), want, maxBytes)
		// A listed artifact that is gone (a deleted signature the index
		// still names) is that artifact's problem too, not the registry's.
		if err != nil && tolerate && ctx.Err() == nil && (errors.Is(err, ErrBadArtifact) || errors.Is(err, ErrTooLarge) || IsNotFound(err)) {
			out = append(out, Artifact{ArtifactType: d.ArtifactType, Digest: d.Digest.String(), Annotations: map[string]string{}, Err: err})
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("artifact %s: %w", d.Digest, err)
		}
		if ok {
			if a.Created.IsZero() {
				a.Created = parseCreated(d.Annotations)
			}
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b Artifact) int {
		if c := newestFirst(a.Created, b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.Digest, b.Digest)
	})
	return out, more, nil
}

// newestFirst orders times newest first, zero times last.
func newestFirst(a, b time.Time) int {
	if a.IsZero() != b.IsZero() {
		if a.IsZero() {
			return 1
		}
		return -1
	}
	return b.Compare(a)
}

// fetchArtifact reads the manifest at ref and, when its type is wanted, its
// first layer. ok is false for an artifact of another type.
func (c *Client) fetchArtifact(ctx context.Context, p *remote.Puller, ref name.Digest, want []string, maxBytes int64) (Artifact, bool, error) {
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return Artifact{}, false, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return Artifact{}, false, fmt.Errorf("%w: parse manifest: %w", ErrBadArtifact, err)
	}
	typ := cmp.Or(m.ArtifactType, string(m.Config.MediaType))
	if !wanted(want, typ) {
		return Artifact{}, false, nil
	}
	if len(m.Layers) == 0 {
		return Artifact{}, false, fmt.Errorf("%w: artifact of type %s has no layers", ErrBadArtifact, typ)
	}
	blob := m.Layers[0]
	if blob.Size > maxBytes {
		return Artifact{}, false, fmt.Errorf("%w: layer %s is %d bytes, over the %d-byte limit", ErrTooLarge, blob.Digest, blob.Size, maxBytes)
	}
	l, err := p.Layer(ctx, ref.Context().Digest(blob.Digest.String()))
	if err != nil {
		return Artifact{}, false, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return Artifact{}, false, fmt.Errorf("fetch layer %s: %w", blob.Digest, err)
	}
	defer rc.Close()
	// The declared size may lie; the cap holds whatever the registry sends.
	src := fmt.Sprintf("registry %s blob %s of %s (declared %d bytes)", ref.RegistryStr(), blob.Digest, ref.RepositoryStr(), blob.Size)
	data, err := httpx.ReadAll(rc, src, maxBytes)
	if err != nil {
		return Artifact{}, false, fmt.Errorf("read layer %s: %w", blob.Digest, err)
	}
	if int64(len(data)) != blob.Size {
		return Artifact{}, false, fmt.Errorf("%w: layer %s is %d bytes, its descriptor says %d", ErrBadArtifact, blob.Digest, len(data), blob.Size)
	}
	anns := m.Annotations
	if anns == nil {
		anns = map[string]string{}
	}
	return Artifact{
		ArtifactType: typ,
		Digest:       desc.Digest.String(),
		Created:      parseCreated(m.Annotations),
		Annotations:  anns,
		MediaType:    string(blob.MediaType),
		Data:         data,
	}, true, nil
}

func wanted(want []string, typ string) bool {
	return len(want) == 0 || slices.Contains(want, typ)
}

func parseCreated(annotations map[string]string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, annotations[AnnotationCreated])
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
