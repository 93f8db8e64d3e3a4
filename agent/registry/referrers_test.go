package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const sbomType = "application/spdx+json"

func report(n int) []byte {
	return fmt.Appendf(nil, `{"SchemaVersion":2,"ArtifactName":"shop/checkout","Results":[{"Target":"scan-%d"}]}`, n)
}

func TestReferrers(t *testing.T) {
	for _, mode := range []string{"referrers API", "tag fallback"} {
		t.Run(mode, func(t *testing.T) {
			var wrap *noReferrers
			host := ""
			if mode == "tag fallback" {
				wrap = &noReferrers{next: newReferrersRegistry()}
				host = serve(t, wrap)
			} else {
				host = serve(t, newReferrersRegistry())
			}
			repo := host + "/shop/checkout"
			subject := digestOf(t, push(t, repo+":1.4.2"))
			other := digestOf(t, push(t, repo+":1.4.1"))
			c := NewClient(Options{RequestsPerSecond: -1})
			ctx := t.Context()

			day := func(d int) map[string]string {
				return map[string]string{AnnotationCreated: time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC).Format(time.RFC3339)}
			}
			attach := func(subject, typ string, data []byte, anns map[string]string) string {
				t.Helper()
				d, err := c.Attach(ctx, repo, subject, typ, data, anns, false)
				if err != nil {
					t.Fatal(err)
				}
				return d
			}
			older := attach(subject, trivyType, report(1), day(24))
			newerAnns := day(25)
			newerAnns["dev.ferry.evidence.kind"] = "fs"
			newer := attach(subject, trivyType, report(2), newerAnns)
			undated := attach(subject, trivyType, report(3), map[string]string{AnnotationCreated: ""})
			sbom := attach(subject, sbomType, []byte(`{"spdxVersion":"SPDX-2.3"}`), day(26))
			attach(other, trivyType, report(4), day(27))

			got, err := c.Referrers(ctx, repo, subject, []string{trivyType}, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			want := []struct {
				digest string
				data   []byte
			}{{newer, report(2)}, {older, report(1)}, {undated, report(3)}}
			if len(got) != len(want) {
				t.Fatalf("got %d artifacts, want %d: %+v", len(got), len(want), got)
			}
			for i, w := range want {
				if got[i].Digest != w.digest || !bytes.Equal(got[i].Data, w.data) || got[i].ArtifactType != trivyType {
					t.Errorf("artifact %d = %s %s %q, want %s %q", i, got[i].Digest, got[i].ArtifactType, got[i].Data, w.digest, w.data)
				}
			}
			if want := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC); !got[0].Created.Equal(want) {
				t.Errorf("Created = %v, want %v", got[0].Created, want)
			}
			if !got[2].Created.IsZero() {
				t.Errorf("undated artifact has Created %v", got[2].Created)
			}
			// The caller's annotations come back (the scan's kind lives there).
			if k := got[0].Annotations["dev.ferry.evidence.kind"]; k != "fs" {
				t.Errorf("newest artifact's kind annotation = %q, want fs (annotations %v)", k, got[0].Annotations)
			}
			if got[1].Annotations == nil || got[1].Annotations["dev.ferry.evidence.kind"] != "" {
				t.Errorf("older artifact's annotations = %v, want a map without a kind", got[1].Annotations)
			}

			all, err := c.Referrers(ctx, repo, subject, nil, 0, false)
			if err != nil {
				t.Fatal(err)
			}
			var digests []string
			for _, a := range all {
				digests = append(digests, a.Digest)
			}
			if w := []string{sbom, newer, older, undated}; !slices.Equal(digests, w) {
				t.Errorf("unfiltered = %v, want %v", digests, w)
			}

			none, err := c.Referrers(ctx, repo, digestOf(t, push(t, repo+":1.0.0")), []string{trivyType}, 0, false)
			if err != nil || len(none) != 0 {
				t.Errorf("image without referrers: %v, %v", none, err)
			}

			tags, err := c.Tags(ctx, repo, false)
			if err != nil {
				t.Fatal(err)
			}
			fallback := "sha256-" + strings.TrimPrefix(subject, "sha256:")
			if wrap != nil {
				if !slices.Contains(tags, fallback) {
					t.Errorf("tags %v lack the fallback tag %s", tags, fallback)
				}
				if wrap.hits.Load() == 0 {
					t.Error("the referrers API was never tried")
				}
			} else if slices.Contains(tags, fallback) {
				t.Errorf("fallback tag %s written although the registry has the referrers API", fallback)
			}
		})
	}
}

func TestReferrersTooLarge(t *testing.T) {
	counter := &blobBytes{next: newReferrersRegistry()}
	host := serve(t, counter)
	repo := host + "/shop/cart"
	c := NewClient(Options{RequestsPerSecond: -1})
	ctx := t.Context()
	subject := digestOf(t, push(t, repo+":2.0.0"))
	big := bytes.Repeat([]byte("x"), 64<<10)
	if _, err := c.Attach(ctx, repo, subject, trivyType, big, nil, false); err != nil {
		t.Fatal(err)
	}

	_, err := c.Referrers(ctx, repo, subject, []string{trivyType}, 1024, false)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "65536 bytes") || !strings.Contains(msg, "1024-byte limit") {
		t.Errorf("error %q does not name the size and the limit", msg)
	}
	if n := counter.n.Load(); n != 0 {
		t.Errorf("%d blob bytes fetched for a blob declared too large", n)
	}

	// A manifest that understates its layer's size: the cap still holds.
	lied := digestOf(t, push(t, repo+":2.0.1"))
	liar := pushLyingArtifact(t, repo, lied, big, 10)
	_, err = c.Referrers(ctx, repo, lied, []string{trivyType}, 1024, false)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), liar) {
		t.Fatalf("err = %v, want ErrTooLarge naming %s", err, liar)
	}
	if _, err := c.Referrers(ctx, repo, lied, []string{trivyType}, int64(len(big)), false); err == nil || !strings.Contains(err.Error(), "descriptor says 10") {
		t.Errorf("lying manifest within the cap: err = %v, want a size mismatch", err)
	}
}

// pushLyingArtifact pushes an artifact whose manifest declares its layer as
// size bytes long, and returns the manifest digest.
func pushLyingArtifact(t *testing.T, repo, subject string, data []byte, size int64) string {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	layer := static.NewLayer(data, trivyType)
	if err := remote.WriteLayer(r, layer); err != nil {
		t.Fatal(err)
	}
	cfg := static.NewLayer(emptyJSON, types.OCIEmptyJSON)
	if err := remote.WriteLayer(r, cfg); err != nil {
		t.Fatal(err)
	}
	ld, _ := layer.Digest()
	cd, _ := cfg.Digest()
	sh, err := v1.NewHash(subject)
	if err != nil {
		t.Fatal(err)
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  trivyType,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: cd, Size: 2},
		Layers:        []v1.Descriptor{{MediaType: trivyType, Digest: ld, Size: size}},
		Annotations:   map[string]string{AnnotationCreated: "2030-01-01T00:00:00Z"},
		Subject:       &v1.Descriptor{MediaType: types.DockerManifestSchema2, Digest: sh, Size: 1},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	desc := &remote.Descriptor{Manifest: raw, Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw))}}
	if err := remote.Put(r.Digest(h.String()), desc); err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestReferrersAuthenticated(t *testing.T) {
	const user, pass = "ferry", "s3cret-pass"
	host := serve(t, basicAuth(user, pass, &noReferrers{next: newReferrersRegistry()}))
	repo := host + "/shop/web"
	kc, err := Keychain("", map[string]Basic{host: {Username: user, Password: pass}})
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(Options{Keychain: kc, RequestsPerSecond: -1})
	ctx := t.Context()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(repo+":1.0.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithAuth(&authn.Basic{Username: user, Password: pass})); err != nil {
		t.Fatal(err)
	}
	subject := digestOf(t, img)
	if _, err := c.Attach(ctx, repo, subject, trivyType, report(1), nil, false); err != nil {
		t.Fatal(err)
	}
	got, err := c.Referrers(ctx, repo, subject, []string{trivyType}, 0, false)
	if err != nil || len(got) != 1 || !bytes.Equal(got[0].Data, report(1)) {
		t.Fatalf("Referrers = %+v, %v", got, err)
	}

	anon := NewClient(Options{RequestsPerSecond: -1})
	_, err = anon.Referrers(ctx, repo, subject, nil, 0, false)
	if err == nil {
		t.Fatal("anonymous Referrers succeeded against an authenticated registry")
	}
	if strings.Contains(err.Error(), pass) {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestReferrersAndAttachErrors(t *testing.T) {
	host := serve(t, newReferrersRegistry())
	repo := host + "/shop/cart"
	subject := digestOf(t, push(t, repo+":1.0.0"))
	missing := "sha256:" + strings.Repeat("1", 64)
	c := NewClient(Options{RequestsPerSecond: -1})
	ctx := t.Context()

	tests := []struct {
		name string
		call func() error
		want []string
	}{
		{"referrers bad digest", func() error {
			_, err := c.Referrers(ctx, repo, "latest", nil, 0, false)
			return err
		}, []string{"referrers of " + repo + "@latest", "bad digest"}},
		{"attach bad digest", func() error {
			_, err := c.Attach(ctx, repo, "sha256:zz", trivyType, nil, nil, false)
			return err
		}, []string{"attach " + trivyType, "bad digest"}},
		{"attach no type", func() error {
			_, err := c.Attach(ctx, repo, subject, "", nil, nil, false)
			return err
		}, []string{"empty artifact type"}},
		{"attach missing subject", func() error {
			_, err := c.Attach(ctx, repo, missing, trivyType, report(1), nil, false)
			return err
		}, []string{"attach " + trivyType + " to " + repo + "@" + missing, "subject"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("call succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
