package registry

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const sigType = "application/vnd.dev.cosign.simplesigning.v1+json"

// pushLayers writes an image manifest of layers (with annotations) at ref.
func pushLayers(t *testing.T, ref string, layers ...[]byte) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	for i, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:       static.NewLayer(l, sigType),
			Annotations: map[string]string{"dev.cosignproject.cosign/signature": string(rune('a' + i))},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
}

func TestTagLayers(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	c := NewClient(Options{RequestsPerSecond: -1})
	ctx := t.Context()
	pushLayers(t, repo+":sha256-abc.sig", []byte("one"), []byte("two"), []byte("three"))

	all, more, err := c.TagLayers(ctx, repo, "sha256-abc.sig", 0, 0, false)
	if err != nil || more != 0 || len(all) != 3 {
		t.Fatalf("all layers: %d, more %d, %v", len(all), more, err)
	}
	if string(all[1].Data) != "two" || all[1].MediaType != sigType || all[1].Annotations["dev.cosignproject.cosign/signature"] != "b" || !strings.HasPrefix(all[1].Digest, "sha256:") {
		t.Errorf("layer 1 = %+v", all[1])
	}

	capped, more, err := c.TagLayers(ctx, repo, "sha256-abc.sig", 2, 0, false)
	if err != nil || more != 1 || len(capped) != 2 || string(capped[0].Data) != "one" {
		t.Fatalf("capped: %+v, more %d, %v", capped, more, err)
	}

	if _, _, err := c.TagLayers(ctx, repo, "sha256-absent.sig", 0, 0, false); !IsNotFound(err) {
		t.Errorf("missing tag: %v, want a not-found error", err)
	}

	pushLayers(t, repo+":big", bytes.Repeat([]byte("x"), 100))
	if _, _, err := c.TagLayers(ctx, repo, "big", 0, 99, false); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the cap: %v, want ErrTooLarge", err)
	}
	if l, _, err := c.TagLayers(ctx, repo, "big", 0, 100, false); err != nil || len(l[0].Data) != 100 {
		t.Errorf("at the cap: %v", err)
	}
}

// TestTagLayersHung: a registry that never answers costs the caller its
// context, not more.
func TestTagLayersHung(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	c := NewClient(Options{RequestsPerSecond: -1})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := c.TagLayers(ctx, host+"/shop/x", "sha256-abc.sig", 0, 0, false)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestReferrersUpTo(t *testing.T) {
	for _, mode := range []string{"referrers API", "tag fallback"} {
		t.Run(mode, func(t *testing.T) {
			repo, subject := referrersSubject(t, mode)
			c := NewClient(Options{RequestsPerSecond: -1})
			ctx := t.Context()
			var digests []string
			for d := 1; d <= 3; d++ {
				at := map[string]string{AnnotationCreated: time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC).Format(time.RFC3339)}
				got, err := c.Attach(ctx, repo, subject, trivyType, report(d), at, false)
				if err != nil {
					t.Fatal(err)
				}
				digests = append(digests, got)
			}
			c.Attach(ctx, repo, subject, sbomType, []byte("{}"), nil, false)

			arts, more, err := c.ReferrersUpTo(ctx, repo, subject, []string{trivyType}, 0, 2, false)
			if err != nil {
				t.Fatal(err)
			}
			// ggcr's registry lists the SBOM (attached last, so newest) with
			// the empty config's type: it is one of the two manifests
			// fetched, since every fetch counts, and dropped.
			if mode == "referrers API" {
				if more != 2 || len(arts) != 1 || arts[0].Digest != digests[2] {
					t.Errorf("got %d (more %d), want the newest of 3 with 2 more", len(arts), more)
				}
			} else if more != 1 || len(arts) != 2 || arts[0].Digest != digests[2] || arts[1].Digest != digests[1] {
				t.Errorf("got %d (more %d), want the 2 newest of 3 with 1 more", len(arts), more)
			}
			arts, more, err = c.ReferrersUpTo(ctx, repo, subject, []string{trivyType}, 0, 0, false)
			if err != nil || more != 0 || len(arts) != 3 {
				t.Errorf("uncapped: %d, more %d, %v", len(arts), more, err)
			}
		})
	}
}
