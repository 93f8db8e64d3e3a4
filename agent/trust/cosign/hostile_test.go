package cosign

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

func keyVerifier(t *testing.T, s signer, opts ...Option) *Verifier {
	t.Helper()
	p := s.write(t, t.TempDir(), "cosign.pub")
	v, err := New(&config.CosignTrust{Keys: []string{p}}, registry.NewClient(registry.Options{RequestsPerSecond: -1}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifyHostileRegistry: a registry that hangs, sends garbage or
// oversized artifacts yields an error (nothing is known), within the
// caller's context, and never a panic or a trusted result.
func TestVerifyHostileRegistry(t *testing.T) {
	s := newSigner(t)
	digest := "sha256:" + strings.Repeat("c", 64)

	t.Run("hangs", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := keyVerifier(t, s).Verify(ctx, trust.Image{Repo: srv.Listener.Addr().String() + "/shop/x", Digest: digest})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			_, _ = io.WriteString(w, `{"manifests":[{"digest":"sha256:zz`)
		}))
		defer srv.Close()
		res, err := keyVerifier(t, s).Verify(t.Context(), trust.Image{Repo: srv.Listener.Addr().String() + "/shop/x", Digest: digest})
		if err == nil || res.Trusted() {
			t.Errorf("garbage registry: %+v, %v; want an error", res, err)
		}
	})

	t.Run("endless body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/" {
				return
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			_, _ = io.WriteString(w, `{"manifests":[`)
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for range 1 << 10 { // 64 MiB, far over every cap
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}))
		defer srv.Close()
		_, err := keyVerifier(t, s).Verify(t.Context(), trust.Image{Repo: srv.Listener.Addr().String() + "/shop/x", Digest: digest})
		if !errors.Is(err, registry.ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})

	t.Run("oversized bundle and layer", func(t *testing.T) {
		host := startRegistry(t)
		v := keyVerifier(t, s, WithMaxArtifactBytes(1024))
		big := []byte(`{"x":"` + strings.Repeat("a", 2048) + `"}`)

		// Too large is the artifact's problem, not an unreadable
		// registry: a referrer or tag anyone can push must neither verify
		// nor hold the app back with an error.
		wantProblem := func(what string, res trust.Result, err error) {
			t.Helper()
			if err != nil || res.Trusted() || res.Incomplete == "" || !slices.ContainsFunc(res.Problems, func(p string) bool {
				return strings.Contains(p, "not read") && strings.Contains(p, "over the 1024-byte limit")
			}) {
				t.Errorf("%s: %+v, %v; want an untrusted result saying it was too large", what, res, err)
			}
		}
		d := pushImage(t, host, "shop/bigbundle")
		pushReferrer(t, host, "shop/bigbundle", d, BundleType, big)
		res, err := v.Verify(t.Context(), trust.Image{Repo: host + "/shop/bigbundle", Digest: d})
		wantProblem("bundle", res, err)
		d = pushImage(t, host, "shop/biglayer")
		pushTag(t, host, "shop/biglayer", d, ".sig", tagLayer{simpleSigningType, big, map[string]string{sigAnnotation: "eA=="}})
		res, err = v.Verify(t.Context(), trust.Image{Repo: host + "/shop/biglayer", Digest: d})
		wantProblem("layer", res, err)
	})
}
