package webhook

import (
	"bytes"
	"crypto/sha256"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileVerifier is a Verifier following a token file, with a clock the
// test moves.
func fileVerifier(t *testing.T, path string, logs *bytes.Buffer) (*Verifier, func(time.Duration)) {
	t.Helper()
	v, err := NewFileVerifier(path, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	v.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v.file.Load().next.Store(0) // the first look after the start uses the fake clock
	return v, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

func bearerOK(v *Verifier, secret string) bool {
	r := httptest.NewRequest("POST", "/hooks/registry", nil)
	r.Header.Set("Authorization", "Bearer "+secret)
	ok, err := v.CheckHeaders(r)
	return ok && err == nil
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTokenFileRotation: replacing webhooks.tokenFile's content moves the
// bearer token, the signature key and the secret path to the new secret
// within SecretRecheck, and the old ones stop working (the README's
// "rotate the secret if it leaks"), whether the file is rewritten in
// place or replaced by a rename (as Kubernetes updates a mounted Secret).
func TestTokenFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhook-token")
	writeFile(t, path, "old-secret\n")
	var logs bytes.Buffer
	v, advance := fileVerifier(t, path, &logs)
	if !bearerOK(v, "old-secret") || !v.CheckPath(PathToken("old-secret")) {
		t.Fatal("the first secret does not work")
	}

	writeFile(t, path, "new-secret-two\r\n") // rewritten in place
	advance(SecretRecheck)
	if bearerOK(v, "old-secret") || v.CheckPath(PathToken("old-secret")) {
		t.Fatal("the rotated-out secret still works")
	}
	if !bearerOK(v, "new-secret-two") || !v.CheckPath(PathToken("new-secret-two")) {
		t.Fatal("the new secret does not work")
	}
	body := []byte(`{"events":[]}`)
	r := httptest.NewRequest("POST", "/hooks/registry", nil)
	r.Header.Set(GiteaSignatureHeader, hmacHex(sha256.New, "new-secret-two", body))
	if err := v.Verify(r, body); err != nil {
		t.Fatalf("signature with the new secret: %v", err)
	}

	tmp := filepath.Join(dir, "next")
	writeFile(t, tmp, "third-secret")
	if err := os.Rename(tmp, path); err != nil { // replaced by a rename
		t.Fatal(err)
	}
	// Within SecretRecheck the file is not looked at: at most a second late.
	if !bearerOK(v, "new-secret-two") {
		t.Fatal("the file was looked at again before SecretRecheck")
	}
	advance(SecretRecheck)
	if bearerOK(v, "new-secret-two") || !bearerOK(v, "third-secret") {
		t.Fatal("the renamed-in secret did not take over")
	}
	if strings.Contains(logs.String(), "-secret") {
		t.Errorf("the secret reached the log:\n%s", logs.String())
	}
}

// TestTokenFileFailsClosed: a token file that becomes empty, unreadable
// or is removed refuses every call (the last secret too), logs one error
// however many calls come, and works again once fixed.
func TestTokenFileFailsClosed(t *testing.T) {
	for _, breakIt := range []struct {
		name string
		do   func(t *testing.T, path string)
	}{
		{"emptied", func(t *testing.T, path string) { writeFile(t, path, " \n") }},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"two lines", func(t *testing.T, path string) { writeFile(t, path, "one\ntwo\n") }},
	} {
		t.Run(breakIt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "webhook-token")
			writeFile(t, path, "the-secret\n")
			var logs bytes.Buffer
			v, advance := fileVerifier(t, path, &logs)
			breakIt.do(t, path)
			for range 5 {
				advance(SecretRecheck)
				if bearerOK(v, "the-secret") || v.CheckPath(PathToken("the-secret")) || bearerOK(v, "") {
					t.Fatal("a broken token file let a call in")
				}
			}
			if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
				t.Errorf("%d errors logged, want 1:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), "the-secret") {
				t.Errorf("the secret reached the log:\n%s", logs.String())
			}
			writeFile(t, path, "fixed-secret\n")
			advance(SecretRecheck)
			if !bearerOK(v, "fixed-secret") {
				t.Fatal("the fixed token file is not used")
			}
		})
	}
	if _, err := NewFileVerifier(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Fatal("a missing token file at start is not an error")
	}
}

// TestSetTokenFile: a reloaded ferry.yaml naming another token file
// switches at once; SetSecret goes back to a fixed secret.
func TestSetTokenFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFile(t, a, "secret-a")
	writeFile(t, b, "secret-b")
	v := NewVerifier("from-env")
	if err := v.SetTokenFile(a); err != nil {
		t.Fatal(err)
	}
	if bearerOK(v, "from-env") || !bearerOK(v, "secret-a") {
		t.Fatal("SetTokenFile(a) did not switch")
	}
	if err := v.SetTokenFile(b); err != nil {
		t.Fatal(err)
	}
	if bearerOK(v, "secret-a") || !v.CheckPath(PathToken("secret-b")) {
		t.Fatal("SetTokenFile(b) did not switch")
	}
	if err := v.SetTokenFile(filepath.Join(dir, "missing")); err == nil || bearerOK(v, "secret-b") {
		t.Fatalf("a missing token file: err %v, and the old secret must be refused", err)
	}
	v.SetSecret(" from-env\n")
	if !bearerOK(v, "from-env") {
		t.Fatal("SetSecret did not switch")
	}
}

// TestTokenFileConcurrent: calls checked while the file rotates see one
// secret or the other, never a torn state (run with -race).
func TestTokenFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhook-token")
	writeFile(t, path, "secret-0")
	v, err := NewFileVerifier(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v.CheckPath(PathToken("secret-0"))
				bearerOK(v, "secret-1")
			}
		}()
	}
	for i := range 20 {
		writeFile(t, path, "secret-"+string(rune('0'+i%2)))
		if err := v.SetTokenFile(path); err != nil { // forces a read now
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// TestCleanSecretIsShared: a token file padded with spaces and CRLF gives
// the same secret to the bearer check, the signature and the secret path
// (and FERRY_WEBHOOK_TOKEN's cleaning is the same function).
func TestCleanSecretIsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "webhook-token")
	writeFile(t, path, "  s3cret \r\n")
	v, err := NewFileVerifier(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bearerOK(v, "s3cret") || !v.CheckPath(PathToken("s3cret")) {
		t.Fatal("the padded token file's secret is not s3cret for the bearer check and the path")
	}
	if got, _ := ReadSecretFile(path); got != "s3cret" || CleanSecret(" s3cret\r\n") != got {
		t.Fatalf("ReadSecretFile = %q", got)
	}
	env := NewVerifier("s3cret\r\n")
	if !bearerOK(env, "s3cret") || !env.CheckPath(PathToken("s3cret")) {
		t.Fatal("a padded fixed secret is not cleaned")
	}
}
