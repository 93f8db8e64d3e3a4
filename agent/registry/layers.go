package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// Layer is one layer of a manifest read by tag: its descriptor's media
// type and annotations, and its content.
type Layer struct {
	MediaType string
	Digest    string
	// Annotations are the layer descriptor's (never nil); cosign keeps a
	// signature and its certificate there.
	Annotations map[string]string
	Data        []byte
}

// TagLayers reads the image manifest repo:tag and at most maxLayers of its
// layers (all when maxLayers <= 0), each capped at maxBytes
// (DefaultMaxArtifactBytes when maxBytes <= 0), for artifacts kept under a
// tag rather than as referrers (cosign's sha256-<hex>.sig and .att tags).
// more counts the layers left unread. A missing tag is an error that
// IsNotFound recognizes. It is bounded as every other lookup: the client's
// transport, body caps, and LookupTimeout.
func (c *Client) TagLayers(ctx context.Context, repo, tag string, maxLayers int, maxBytes int64, insecure bool) (layers []Layer, more int, err error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxArtifactBytes
	}
	r, err := c.parseRepo(repo, insecure)
	if err != nil {
		return nil, 0, fmt.Errorf("layers of %s:%s: %w", repo, tag, err)
	}
	ref, err := name.NewTag(r.Name()+":"+tag, nameOptions(r, insecure)...)
	if err != nil {
		return nil, 0, fmt.Errorf("layers of %s:%s: %w", repo, tag, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	layers, more, err = c.tagLayers(withBlobLimit(ctx, maxBytes), ref, maxLayers, maxBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("layers of %s:%s: %w", repo, tag, withCtxErr(ctx, err))
	}
	return layers, more, nil
}

func (c *Client) tagLayers(ctx context.Context, ref name.Tag, maxLayers int, maxBytes int64) ([]Layer, int, error) {
	p, err := remote.NewPuller(c.options(ctx)...)
	if err != nil {
		return nil, 0, err
	}
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return nil, 0, fmt.Errorf("%w: parse manifest: %w", ErrBadArtifact, err)
	}
	ls := m.Layers
	more := 0
	if maxLayers > 0 && len(ls) > maxLayers {
		more = len(ls) - maxLayers
		ls = ls[:maxLayers]
	}
	out := make([]Layer, 0, len(ls))
	for _, d := range ls {
		if d.Size > maxBytes || d.Size < 0 {
			return nil, 0, fmt.Errorf("%w: layer %s is %d bytes, over the %d-byte limit", ErrTooLarge, d.Digest, d.Size, maxBytes)
		}
		l, err := p.Layer(ctx, ref.Context().Digest(d.Digest.String()))
		if err != nil {
			return nil, 0, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, 0, fmt.Errorf("fetch layer %s: %w", d.Digest, err)
		}
		src := fmt.Sprintf("registry %s blob %s of %s (declared %d bytes)", ref.RegistryStr(), d.Digest, ref.RepositoryStr(), d.Size)
		data, err := httpx.ReadAll(rc, src, maxBytes)
		rc.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("read layer %s: %w", d.Digest, err)
		}
		if int64(len(data)) != d.Size {
			return nil, 0, fmt.Errorf("%w: layer %s is %d bytes, its descriptor says %d", ErrBadArtifact, d.Digest, len(data), d.Size)
		}
		anns := d.Annotations
		if anns == nil {
			anns = map[string]string{}
		}
		out = append(out, Layer{MediaType: string(d.MediaType), Digest: d.Digest.String(), Annotations: anns, Data: data})
	}
	return out, more, nil
}
