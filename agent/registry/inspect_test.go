package registry

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestInspect(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/checkout"
	built := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	annotated := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	labels := map[string]string{
		AnnotationRevision: "label-rev",
		AnnotationSource:   "https://git.example/shop/checkout",
		"maintainer":       "shop-team",
	}

	tests := []struct {
		name  string
		image func(t *testing.T) string // pushes and returns the digest
		want  ImageInfo
	}{
		{
			name: "annotation wins over label",
			image: func(t *testing.T) string {
				img := labelledImage(t, labels, built, map[string]string{AnnotationRevision: "0a1b2c3d", AnnotationCreated: annotated.Format(time.RFC3339)})
				return pushImage(t, repo+":annotated", img)
			},
			want: ImageInfo{Created: built, Revision: "0a1b2c3d", Source: "https://git.example/shop/checkout", Labels: labels},
		},
		{
			name: "labels only",
			image: func(t *testing.T) string {
				return pushImage(t, repo+":labels", labelledImage(t, labels, built, nil))
			},
			want: ImageInfo{Created: built, Revision: "label-rev", Source: "https://git.example/shop/checkout", Labels: labels},
		},
		{
			name: "epoch config time falls back to annotation",
			image: func(t *testing.T) string {
				img := labelledImage(t, nil, time.Unix(0, 0), map[string]string{AnnotationCreated: annotated.Format(time.RFC3339)})
				return pushImage(t, repo+":epoch", img)
			},
			want: ImageInfo{Created: annotated, Labels: map[string]string{}},
		},
		{
			name: "nothing set",
			image: func(t *testing.T) string {
				return pushImage(t, repo+":bare", labelledImage(t, nil, time.Time{}, nil))
			},
			want: ImageInfo{Labels: map[string]string{}},
		},
		{
			name: "index picks linux/amd64, index annotations fill in",
			image: func(t *testing.T) string {
				arm := labelledImage(t, map[string]string{AnnotationRevision: "arm"}, annotated, nil)
				amd := labelledImage(t, map[string]string{"arch": "amd64"}, built, map[string]string{AnnotationSource: "https://git.example/amd"})
				idx := platformIndex(t, map[string]string{AnnotationRevision: "index-rev", AnnotationSource: "https://git.example/index"},
					[]v1.Image{arm, amd}, []string{"linux/arm64", "linux/amd64"})
				return pushIndex(t, repo+":multi", idx)
			},
			want: ImageInfo{Created: built, Revision: "index-rev", Source: "https://git.example/amd", Labels: map[string]string{"arch": "amd64"}},
		},
		{
			name: "index without amd64 takes the first real image",
			image: func(t *testing.T) string {
				att := labelledImage(t, map[string]string{"kind": "attestation"}, annotated, nil)
				arm := labelledImage(t, map[string]string{"kind": "arm"}, built, nil)
				s390 := labelledImage(t, map[string]string{"kind": "s390x"}, built, nil)
				idx := platformIndex(t, nil, []v1.Image{att, arm, s390}, []string{"unknown/unknown", "linux/arm64", "linux/s390x"})
				return pushIndex(t, repo+":noamd", idx)
			},
			want: ImageInfo{Created: built, Labels: map[string]string{"kind": "arm"}},
		},
	}
	c := NewClient(Options{RequestsPerSecond: -1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			digest := tt.image(t)
			got, err := c.Inspect(t.Context(), repo, digest, false)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Created.Equal(tt.want.Created) || got.Revision != tt.want.Revision || got.Source != tt.want.Source || !maps.Equal(got.Labels, tt.want.Labels) {
				t.Errorf("Inspect = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

func TestInspectErrors(t *testing.T) {
	host := serve(t, newReferrersRegistry())
	repo := host + "/shop/cart"
	subject := digestOf(t, push(t, repo+":1.0.0"))
	c := NewClient(Options{RequestsPerSecond: -1})
	artifact, err := c.Attach(t.Context(), repo, subject, trivyType, []byte(`{"SchemaVersion":2}`), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	missing := "sha256:" + strings.Repeat("0", 64)

	tests := []struct {
		name, repo, digest string
		want               []string
	}{
		{"bad digest", repo, "sha256:nothex", []string{"inspect " + repo + "@sha256:nothex", "bad digest"}},
		{"bad repo", "UPPER/case", missing, []string{"inspect UPPER/case@"}},
		{"unknown manifest", repo, missing, []string{"inspect " + repo + "@" + missing, "MANIFEST_UNKNOWN"}},
		{"artifact is not an image", repo, artifact, []string{"not an image", "application/vnd.oci.empty.v1+json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Inspect(t.Context(), tt.repo, tt.digest, false)
			if err == nil {
				t.Fatal("Inspect succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestInspectCanceled(t *testing.T) {
	host := serve(t, newRegistry())
	repo := host + "/shop/web"
	digest := digestOf(t, push(t, repo+":1.0.0"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewClient(Options{}).Inspect(ctx, repo, digest, false)
	if !errors.Is(err, ctx.Err()) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
