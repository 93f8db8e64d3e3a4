package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
)

// TestReadSecretsSameFile: two settings naming one file (a webhook whose
// token and HMAC secret are the same file) are both filled. Keyed by path,
// one of them stayed empty and every signed call failed (found by H9).
func TestReadSecretsSameFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "shared")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var token, key, none string
	if err := readSecrets(secret{file, &token}, secret{file, &key}, secret{"", &none}); err != nil {
		t.Fatal(err)
	}
	if token != "s3cret" || key != "s3cret" || none != "" {
		t.Fatalf("token %q, secret %q, unnamed %q: want both read (trimmed) and the unnamed one left empty", token, key, none)
	}
}

// TestWebhookSecretFromEnvIsTrimmed: FERRY_WEBHOOK_TOKEN set from a file
// keeps its newline; untrimmed, every webhook call would be refused while
// the same token in webhooks.tokenFile works (found by H9).
func TestWebhookSecretFromEnvIsTrimmed(t *testing.T) {
	t.Setenv("FERRY_WEBHOOK_TOKEN", "s3cret\n")
	got, err := webhookSecret(&config.Pipeline{})
	if err != nil || got != "s3cret" {
		t.Fatalf("webhookSecret = %q, %v; want s3cret", got, err)
	}
}
