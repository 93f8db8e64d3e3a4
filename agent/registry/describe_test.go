package registry

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestDescribe(t *testing.T) {
	h := &swapManifest{next: newRegistry()}
	host := serve(t, h)
	repo := host + "/shop/checkout"
	img := push(t, repo+":1.0.0")
	digest := digestOf(t, img)
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Options{RequestsPerSecond: -1})

	d, err := c.Describe(t.Context(), repo, digest, false)
	if err != nil {
		t.Fatal(err)
	}
	want := Descriptor{Digest: digest, MediaType: "application/vnd.docker.distribution.manifest.v2+json", Size: int64(len(raw))}
	if d != want {
		t.Fatalf("Describe = %+v, want %+v", d, want)
	}

	// A manifest that does not exist is the registry's answer.
	if _, err := c.Describe(t.Context(), repo, "sha256:"+strings.Repeat("0", 64), false); !IsNotFound(err) {
		t.Errorf("unknown digest: %v, want not found", err)
	}
	if _, err := c.Describe(t.Context(), repo, "sha256:nothex", false); err == nil {
		t.Error("bad digest accepted")
	}

	// A registry that answers with other bytes for the digest is refused,
	// not described by what it sent.
	h.body = []byte(strings.Replace(string(raw), `"schemaVersion": 2`, `"schemaVersion":2 `, 1) + " ")
	if _, err := c.Describe(t.Context(), repo, digest, false); err == nil {
		t.Error("a manifest with other bytes was described")
	}
}

// swapManifest answers manifest GETs with body when it is set.
type swapManifest struct {
	next http.Handler
	body []byte
}

func (h *swapManifest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.body != nil && strings.Contains(r.URL.Path, "/manifests/") {
		w.Header().Set("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
		w.Header().Set("Content-Length", strconv.Itoa(len(h.body)))
		if r.Method == http.MethodGet {
			_, _ = io.Copy(w, bytes.NewReader(h.body))
		}
		return
	}
	h.next.ServeHTTP(w, r)
}

func TestReferrersUpToBoundsFetches(t *testing.T) {
	for _, mode := range []string{"referrers API", "tag fallback"} {
		t.Run(mode, func(t *testing.T) {
			repo, subject := referrersSubject(t, mode)
			c := NewClient(Options{RequestsPerSecond: -1})
			for i := range 5 {
				if _, err := c.Attach(t.Context(), repo, subject, trivyType, report(i), nil, false); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := c.Attach(t.Context(), repo, subject, sbomType, []byte(`{}`), nil, false); err != nil {
				t.Fatal(err)
			}

			arts, unread, err := c.ReferrersUpTo(t.Context(), repo, subject, []string{trivyType}, 0, 2, false)
			if err != nil {
				t.Fatal(err)
			}
			// Two manifests are fetched either way. ggcr's registry lists
			// the empty config's media type rather than the artifact type,
			// so there the SBOM is a candidate too: it may be one of the two
			// fetched (and dropped), and counts among the unread otherwise.
			wantUnread, minRead := 3, 2
			if mode == "referrers API" {
				wantUnread, minRead = 4, 1
			}
			if len(arts) < minRead || len(arts) > 2 || unread != wantUnread {
				t.Fatalf("read %d, unread %d; want %d to 2 and %d", len(arts), unread, minRead, wantUnread)
			}
			for _, a := range arts {
				if a.MediaType != trivyType || a.ArtifactType != trivyType {
					t.Errorf("artifact %s: media type %q, artifact type %q", a.Digest, a.MediaType, a.ArtifactType)
				}
			}
			all, unread, err := c.ReferrersUpTo(t.Context(), repo, subject, []string{trivyType}, 0, 0, false)
			if err != nil || len(all) != 5 || unread != 0 {
				t.Fatalf("unbounded: %d read, %d unread, %v", len(all), unread, err)
			}
		})
	}
}

// TestResolveSize: Resolve says the manifest's size too.
func TestResolveSize(t *testing.T) {
	host := serve(t, newRegistry())
	img := push(t, host+"/shop/checkout:1.0.0")
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewClient(Options{}).Resolve(t.Context(), host+"/shop/checkout", "1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size != int64(len(raw)) {
		t.Fatalf("size %d, want %d", d.Size, len(raw))
	}
}

// TestReferrersUpToKeepsGoingPastAGoneArtifact: a referrer the listing
// still names but the registry no longer has (a deleted signature) is that
// artifact's Err, and the others are read; Referrers still fails on it.
func TestReferrersUpToKeepsGoingPastAGoneArtifact(t *testing.T) {
	host := serve(t, &noReferrers{next: newReferrersRegistry()})
	repo := host + "/shop/checkout"
	subject := digestOf(t, push(t, repo+":1.0.0"))
	c := NewClient(Options{RequestsPerSecond: -1})
	kept, err := c.Attach(t.Context(), repo, subject, trivyType, report(1), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := c.Attach(t.Context(), repo, subject, trivyType, report(2), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewDigest(repo + "@" + gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref); err != nil {
		t.Fatal(err)
	}
	arts, _, err := c.ReferrersUpTo(t.Context(), repo, subject, []string{trivyType}, 0, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed []string
	for _, a := range arts {
		if a.Err != nil {
			failed = append(failed, a.Digest)
		} else {
			ok = append(ok, a.Digest)
		}
	}
	if !slices.Equal(ok, []string{kept}) || !slices.Equal(failed, []string{gone}) {
		t.Errorf("read %v, failed %v; want %s read and %s failed", ok, failed, kept, gone)
	}
	if _, err := c.Referrers(t.Context(), repo, subject, []string{trivyType}, 0, false); err == nil {
		t.Error("Referrers read past a gone artifact; the evidence readers want the error")
	}
}

// referrersSubject serves a registry with the referrers API, or without
// it ("tag fallback"), and pushes an image to it: the subject's repo and
// digest.
func referrersSubject(t *testing.T, mode string) (repo, subject string) {
	t.Helper()
	var host string
	if mode == "tag fallback" {
		host = serve(t, &noReferrers{next: newReferrersRegistry()})
	} else {
		host = serve(t, newReferrersRegistry())
	}
	repo = host + "/shop/checkout"
	return repo, digestOf(t, push(t, repo+":1.0.0"))
}
