package registry

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI annotation (and label) keys Inspect reads.
const (
	AnnotationCreated  = "org.opencontainers.image.created"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationSource   = "org.opencontainers.image.source"
)

// ImageInfo is what an image says about itself: build time, the commit it
// was built from and where that commit lives.
type ImageInfo struct {
	// Created is the config's created time, else the
	// org.opencontainers.image.created annotation; zero when neither is set
	// (reproducible builds often write the Unix epoch, which counts as unset).
	Created time.Time
	// Revision is org.opencontainers.image.revision; a manifest annotation
	// wins over a config label.
	Revision string
	// Source is org.opencontainers.image.source, with the same precedence.
	Source string
	// Labels are the config's labels, never nil.
	Labels map[string]string
}

// Inspect reads the manifest annotations and config of repo@digest. For an
// index it reads the first linux/amd64 image, else the first image, and the
// index's own annotations fill in what the image's manifest lacks.
func (c *Client) Inspect(ctx context.Context, repo, digest string, insecure bool) (ImageInfo, error) {
	ref, err := c.parseDigest(repo, digest, insecure)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("inspect %s@%s: %w", repo, digest, err)
	}
	ctx, cancel := c.lookup(ctx)
	defer cancel()
	info, err := c.inspect(ctx, ref)
	if err != nil {
		return ImageInfo{}, fmt.Errorf("inspect %s@%s: %w", repo, digest, withCtxErr(ctx, err))
	}
	return info, nil
}

func (c *Client) inspect(ctx context.Context, ref name.Digest) (ImageInfo, error) {
	desc, err := remote.Get(ref, c.options(ctx)...)
	if err != nil {
		return ImageInfo{}, err
	}
	annotations := map[string]string{}
	var img v1.Image
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return ImageInfo{}, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return ImageInfo{}, err
		}
		child, err := pickImage(im.Manifests)
		if err != nil {
			return ImageInfo{}, err
		}
		maps.Copy(annotations, im.Annotations)
		if img, err = idx.Image(child.Digest); err != nil {
			return ImageInfo{}, fmt.Errorf("image %s of the index: %w", child.Digest, err)
		}
	case desc.MediaType.IsImage():
		if img, err = desc.Image(); err != nil {
			return ImageInfo{}, err
		}
	default:
		return ImageInfo{}, fmt.Errorf("media type %q is neither an image nor an index", desc.MediaType)
	}

	m, err := img.Manifest()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("read manifest: %w", err)
	}
	if mt := m.Config.MediaType; mt != types.DockerConfigJSON && mt != types.OCIConfigJSON {
		return ImageInfo{}, fmt.Errorf("not an image: config media type is %q", mt)
	}
	maps.Copy(annotations, m.Annotations)
	cf, err := img.ConfigFile()
	if err != nil {
		return ImageInfo{}, fmt.Errorf("read config: %w", err)
	}

	info := ImageInfo{Labels: map[string]string{}}
	maps.Copy(info.Labels, cf.Config.Labels)
	info.Revision = firstNonEmpty(annotations[AnnotationRevision], info.Labels[AnnotationRevision])
	info.Source = firstNonEmpty(annotations[AnnotationSource], info.Labels[AnnotationSource])
	if t := cf.Created.Time; t.Unix() > 0 {
		info.Created = t.UTC()
	} else if s := annotations[AnnotationCreated]; s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return ImageInfo{}, fmt.Errorf("annotation %s: %w", AnnotationCreated, err)
		}
		info.Created = t.UTC()
	}
	return info, nil
}

// pickImage chooses the linux/amd64 image of an index, else its first image
// that is not an attestation (platform unknown/unknown), else its first image.
func pickImage(ds []v1.Descriptor) (v1.Descriptor, error) {
	var first, firstReal *v1.Descriptor
	for i := range ds {
		d := &ds[i]
		if !d.MediaType.IsImage() {
			continue
		}
		if first == nil {
			first = d
		}
		p := d.Platform
		if p != nil && p.OS == "linux" && p.Architecture == "amd64" {
			return *d, nil
		}
		if firstReal == nil && (p == nil || p.OS != "unknown") {
			firstReal = d
		}
	}
	switch {
	case firstReal != nil:
		return *firstReal, nil
	case first != nil:
		return *first, nil
	}
	return v1.Descriptor{}, fmt.Errorf("index lists no image manifest (%d entries)", len(ds))
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// parseDigest checks digest and joins it to repo.
func (c *Client) parseDigest(repo, digest string, insecure bool) (name.Digest, error) {
	if _, err := v1.NewHash(digest); err != nil {
		return name.Digest{}, fmt.Errorf("bad digest: %w", err)
	}
	r, err := c.parseRepo(repo, insecure)
	if err != nil {
		return name.Digest{}, err
	}
	return r.Digest(digest), nil
}
