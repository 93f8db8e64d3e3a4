package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
	anns := map[string]string{AnnotationCreated: time.Now().UTC().Format(time.RFC3339)}
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
	if err := remote.Write(subject.Context().Digest(h.String()), img, opts...); err != nil {
		return "", err
	}
	return h.String(), nil
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
