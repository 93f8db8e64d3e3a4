package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ferry-dev/ferry/internal/clock"
)

// emptyJSON is the OCI empty descriptor's content, the config of artifacts
// that carry no configuration.
var emptyJSON = []byte("{}")

// Attach pushes data as an OCI 1.1 artifact (artifactType and layer media
// type both artifactType, empty config) whose subject is repo@subjectDigest,
// the way `oras attach` does, and returns the artifact manifest's digest.
// annotations go on the artifact manifest; org.opencontainers.image.created
// is set to now when absent. On registries without the referrers API,
// go-containerregistry maintains the sha256-<hex> fallback tag.
func (c *Client) Attach(ctx context.Context, repo, subjectDigest, artifactType string, data []byte, annotations map[string]string, insecure bool) (string, error) {
	subject, err := c.parseDigest(repo, subjectDigest, insecure)
	if err != nil {
		return "", fmt.Errorf("attach %s to %s@%s: %w", artifactType, repo, subjectDigest, err)
	}
	if artifactType == "" {
		return "", fmt.Errorf("attach to %s@%s: empty artifact type", repo, subjectDigest)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	digest, err := c.attach(ctx, subject, artifactType, data, annotations)
	if err != nil {
		return "", fmt.Errorf("attach %s to %s@%s: %w", artifactType, repo, subjectDigest, withCtxErr(ctx, err))
	}
	return digest, nil
}

func (c *Client) attach(ctx context.Context, subject name.Digest, artifactType string, data []byte, annotations map[string]string) (string, error) {
	opts := c.options(ctx)
	sd, err := remote.Head(subject, opts...)
	if headRefused(err) {
		var g *remote.Descriptor
		if g, err = remote.Get(subject, opts...); err == nil {
			sd = &g.Descriptor
		}
	}
	if err != nil {
		return "", fmt.Errorf("subject: %w", err)
	}

	layer := static.NewLayer(data, types.MediaType(artifactType))
	config := static.NewLayer(emptyJSON, types.OCIEmptyJSON)
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return "", err
	}
	cd, err := partial.Descriptor(config)
	if err != nil {
		return "", err
	}
	// Nanoseconds: two scans attached within a second are still ordered.
	anns := map[string]string{AnnotationCreated: time.Now().UTC().Format(time.RFC3339Nano)}
	maps.Copy(anns, annotations)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        *cd,
		Layers:        []v1.Descriptor{*ld},
		Annotations:   anns,
		Subject:       &v1.Descriptor{MediaType: sd.MediaType, Digest: sd.Digest, Size: sd.Size},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	img, err := partial.CompressedToImage(artifact{raw: raw, config: config, layer: layer})
	if err != nil {
		return "", err
	}
	h, err := img.Digest()
	if err != nil {
		return "", err
	}
	ref := subject.Context().Digest(h.String())
	// A registry without the referrers API keeps the list in the
	// sha256-<hex> tag's index, which each writer reads, extends and puts
	// back: two attaches at once could each write a list without the
	// other's artifact, and both report success. So the list is read back,
	// and the write (which re-reads and extends the list) repeated until
	// the artifact is in it.
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw)), ArtifactType: artifactType, Annotations: anns}
	for attempt := 1; ; attempt++ {
		// The first write pushes the artifact and extends the list; once
		// the artifact exists, go-containerregistry skips the write, list
		// update included, so later attempts extend the list themselves.
		write := func() error { return remote.Write(ref, img, opts...) }
		if attempt > 1 {
			write = func() error { return addToFallbackTag(subject, desc, opts) }
		}
		if err := write(); err != nil {
			return "", err
		}
		listed, err := c.listed(ctx, subject, h)
		if listed && err == nil {
			// A writer that read the list before ours landed may still put
			// its own without ours: look again once such a write has had
			// time to land. (distribution has no conditional PUT to do
			// better; a registry with the referrers API needs none of this.)
			if err = clock.Sleep(ctx, attachSettle); err == nil {
				listed, err = c.listed(ctx, subject, h)
			}
		}
		if err != nil {
			return "", fmt.Errorf("read back the referrers: %w", err)
		}
		if listed {
			return h.String(), nil
		}
		if attempt == attachAttempts {
			return "", fmt.Errorf("the registry's referrers list of %s lost the artifact %d times (writers racing on the sha256-<hex> tag); nothing is attached", subject.DigestStr(), attempt)
		}
		// Jitter, so racing writers stop overwriting each other.
		if err := clock.Sleep(ctx, time.Duration(10+rand.IntN(90*attempt))*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// attachAttempts bounds the writes of one attach whose artifact another
// writer's list update keeps dropping.
const attachAttempts = 8

// attachSettle is how long after seeing its artifact listed an attach looks
// again, for a racing writer's late list update.
var attachSettle = 500 * time.Millisecond

// addToFallbackTag adds desc to the index under subject's sha256-<hex>
// tag, the referrers list of a registry without the referrers API, as
// go-containerregistry's first write did.
func addToFallbackTag(subject name.Digest, desc v1.Descriptor, opts []remote.Option) error {
	tag := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	idx, err := remote.Index(tag, opts...)
	var terr *transport.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
	case err != nil:
		return fmt.Errorf("read %s: %w", tag.TagStr(), err)
	default:
		got, err := idx.IndexManifest()
		if err != nil {
			return fmt.Errorf("read %s: %w", tag.TagStr(), err)
		}
		im = *got
	}
	for _, d := range im.Manifests {
		if d.Digest == desc.Digest {
			return nil
		}
	}
	im.Manifests = append(im.Manifests, desc)
	slices.SortFunc(im.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	raw, err := json.Marshal(im)
	if err != nil {
		return err
	}
	return remote.Put(tag, rawIndex(raw), opts...)
}

// rawIndex is an OCI image index written out whole.
type rawIndex []byte

func (r rawIndex) RawManifest() ([]byte, error)        { return r, nil }
func (r rawIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }

// listed says whether subject's referrers list names the artifact h.
func (c *Client) listed(ctx context.Context, subject name.Digest, h v1.Hash) (bool, error) {
	idx, err := remote.Referrers(subject, c.options(ctx)...)
	if err != nil {
		return false, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return false, err
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			return true, nil
		}
	}
	return false, nil
}

// artifact is a pushable image whose manifest is written out whole, since
// go-containerregistry's mutate package cannot set artifactType.
type artifact struct {
	raw           []byte
	config, layer v1.Layer
}

func (a artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a artifact) RawConfigFile() ([]byte, error)      { return bytes.Clone(emptyJSON), nil }
func (a artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.layer, a.config} {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
