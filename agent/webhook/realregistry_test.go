package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRealRegistryNotification runs the CNCF distribution registry (Debian's
// docker-registry) with a notification endpoint on our Handler, pushes an
// image, and expects exactly that tag and digest to be handed on.
func TestRealRegistryNotification(t *testing.T) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	got := make(chan []RegistryEvent, 16)
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnRegistry: func(_ context.Context, evs []RegistryEvent) { got <- evs },
		OnPush: func(context.Context, PushEvent) {}})
	hooks := httptest.NewServer(h)
	defer hooks.Close()

	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %s}}
http: {addr: %s}
notifications:
  endpoints:
    - name: ferry
      url: %s/hooks/registry
      headers: {Authorization: [Bearer %s]}
      timeout: 2s
      threshold: 5
      backoff: 1s
`, filepath.Join(dir, "data"), addr, hooks.URL, testSecret)
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", cfgFile)
	var out bytes.Buffer // shown only when the test fails
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("docker-registry output:\n%s", out.String())
		}
	})
	waitReady(ctx, t, "http://"+addr+"/v2/")

	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(addr + "/shop/checkout:1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	want := RegistryEvent{Host: addr, Repository: "shop/checkout", Tag: "1.4.2", Digest: digest.String(),
		MediaType: "application/vnd.docker.distribution.manifest.v2+json"}
	// Blob pushes arrive too but never reach the callback: the first
	// events handed on must be the manifest push.
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0] != want {
			t.Fatalf("handed on %+v, want [%+v]", evs, want)
		}
	case <-ctx.Done():
		t.Fatal("no notification from the registry")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitReady(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("registry at %s never answered: %v", url, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
