package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
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

// TestWebhookPathMatchesREADMEFormula: for token files with CRLF, padding
// spaces or several trailing newlines, the README's shell formula gives
// the path `ferry webhook-path` prints and the handler takes, and the
// bearer check takes the same cleaned secret.
func TestWebhookPathMatchesREADMEFormula(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const formula = `printf 'ferry-webhook-path:%s' "$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' /etc/ferry/webhook-token)" | sha256sum`
	if !strings.Contains(string(readme), "`"+formula+"`") {
		t.Fatalf("README.md no longer shows %s", formula)
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	for _, content := range []string{"s3cret\n", "s3cret\r\n", "  s3cret \r\n", "\ts3cret\n\n\n", "s3 cret\r\n"} {
		file := filepath.Join(t.TempDir(), "webhook-token")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("sh", "-c", strings.ReplaceAll(formula, "/etc/ferry/webhook-token", file)).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := "/hooks/registry/" + strings.Fields(string(out))[0]
		root := rootCmd()
		var buf bytes.Buffer
		root.SetOut(&buf)
		root.SetErr(&bytes.Buffer{})
		root.SetArgs([]string{"webhook-path", "--token-file", file})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(buf.String()); got != want {
			t.Errorf("%q: ferry webhook-path = %s, the README's formula %s", content, got, want)
		}
		p := &config.Pipeline{}
		p.Webhooks.TokenFile = file
		v, err := webhookVerifier(p, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if !v.CheckPath(strings.TrimPrefix(want, "/hooks/registry/")) {
			t.Errorf("%q: the handler does not take the README's path", content)
		}
		r := httptest.NewRequest("POST", "/hooks/registry", nil)
		r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(content))
		if ok, err := v.CheckHeaders(r); !ok || err != nil {
			t.Errorf("%q: the bearer check refuses the secret: %v", content, err)
		}
	}
}

// TestReloadFollowsTokenFile: a reloaded ferry.yaml naming another
// webhooks.tokenFile moves the webhook secret (and path) to it; one
// without a token file goes back to FERRY_WEBHOOK_TOKEN.
func TestReloadFollowsTokenFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for f, s := range map[string]string{a: "secret-a\n", b: "secret-b\n"} {
		if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FERRY_WEBHOOK_TOKEN", "from-env")
	prev, next, none := &config.Pipeline{}, &config.Pipeline{}, &config.Pipeline{}
	prev.Webhooks.TokenFile, next.Webhooks.TokenFile = a, b
	g := &globals{log: slog.New(slog.DiscardHandler)}
	v, err := webhookVerifier(prev, g.log)
	if err != nil {
		t.Fatal(err)
	}
	g.verifier = v
	g.followTokenFile(prev, next)
	if v.CheckPath(webhook.PathToken("secret-a")) || !v.CheckPath(webhook.PathToken("secret-b")) {
		t.Fatal("the reload did not move the secret path to the new token file")
	}
	g.followTokenFile(next, none)
	if v.CheckPath(webhook.PathToken("secret-b")) || !v.CheckPath(webhook.PathToken("from-env")) {
		t.Fatal("without a token file the secret is not FERRY_WEBHOOK_TOKEN's")
	}
}
