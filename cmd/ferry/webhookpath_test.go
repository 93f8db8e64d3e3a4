package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/webhook"
)

// TestWebhookPath: the path `ferry webhook-path` prints is the one the
// webhook handler takes a Docker Hub push on, with no other credential.
func TestWebhookPath(t *testing.T) {
	const secret = "s3cret-hook-token"
	file := filepath.Join(t.TempDir(), "webhook-token")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		root := rootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs(args)
		err := root.Execute()
		return strings.TrimSpace(out.String()), err
	}
	path, err := run("webhook-path", "--token-file", file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, "/hooks/registry/") || strings.Contains(path, secret) {
		t.Fatalf("webhook-path printed %q", path)
	}
	t.Setenv("FERRY_WEBHOOK_TOKEN", secret)
	if fromEnv, err := run("webhook-path"); err != nil || fromEnv != path {
		t.Fatalf("from FERRY_WEBHOOK_TOKEN: %q, %v; want %q", fromEnv, err, path)
	}
	t.Setenv("FERRY_WEBHOOK_TOKEN", "")
	if _, err := run("webhook-path"); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Fatalf("no secret: %v; want an error naming --token-file", err)
	}

	var got []webhook.RegistryEvent
	h := webhook.New(webhook.HandlerOptions{Verifier: webhook.NewVerifier(secret),
		OnRegistry: func(_ context.Context, evs []webhook.RegistryEvent) { got = append(got, evs...) }})
	body := `{"push_data":{"tag":"1.4.2"},"repository":{"repo_name":"shopteam/checkout"}}`
	for _, tc := range []struct {
		path   string
		status int
	}{{path, http.StatusAccepted}, {"/hooks/registry/" + strings.Repeat("0", 64), http.StatusUnauthorized}, {"/hooks/registry", http.StatusUnauthorized}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", tc.path, strings.NewReader(body)))
		if w.Code != tc.status {
			t.Errorf("POST %s: %d %s, want %d", tc.path, w.Code, w.Body, tc.status)
		}
	}
	if len(got) != 1 || got[0].Host != "index.docker.io" || got[0].Repository != "shopteam/checkout" {
		t.Fatalf("handed on %+v", got)
	}
}
