//go:build e2e

package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// Planted secrets: each is used for real (or offered) and must never show
// up in ferry's output, commit messages, notes, mail or HTTP pages.
const (
	plantWebhook  = "whsec-PLANTED-7f3a9c"
	plantGitPass  = "gitpass-PLANTED-91c2e4"
	plantRegPass  = "regpass-PLANTED-55d1aa"
	plantSMTPPass = "smtppass-PLANTED-0b7e31"
)

var planted = []string{plantWebhook, plantGitPass, plantRegPass, plantSMTPPass}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// TestSecretsNeverLeak runs ferry with every kind of secret planted in
// files: the webhook secret, git basic auth, registry basic auth and an
// SMTP password. It promotes, refuses bad webhook calls (missing, wrong,
// oversized; a replayed signed call changes nothing), refuses a git.url
// or a --config URL with credentials (the first finding: the latter was
// echoed, password and all, in the error naming the config's source),
// fails a git push of a run reading its config from the fleet, and greps all
// captured output, every commit message, the notes and the mail for each
// secret.
func TestSecretsNeverLeak(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string { return writeFile(t, filepath.Join(dir, name), content+"\n") }
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	reg := startRegistry(t, "", "")
	smtp := startSMTPSink(t)
	var refusePush atomic.Bool
	hook := func(r *http.Request) bool {
		return !(refusePush.Load() && strings.HasSuffix(r.URL.Path, "/git-receive-pack"))
	}
	// ferry.yaml is a placeholder here (the agent reads a file); the one-off
	// run below commits the real one.
	fleet := startFleet(t, reg.host, "placeholder: true\n", gitserver.WithBasicAuth("ferry", plantGitPass), gitserver.WithHook(hook))
	cfg := fleet.expand(chainConfig, reg.host)
	cfg = strings.Replace(cfg, "  author:", fmt.Sprintf("  interval: 1s\n  auth: {usernameFile: %s, passwordFile: %s}\n  author:",
		file("git-user", "ferry"), file("git-pass", plantGitPass)), 1)
	cfg += fmt.Sprintf("registry: {interval: 1s, auth: {%q: {usernameFile: %s, passwordFile: %s}}}\n", reg.host, file("reg-user", "puller"), file("reg-pass", plantRegPass))
	cfg += fmt.Sprintf("webhooks: {tokenFile: %s, maxBodyBytes: 65536}\n", file("webhook", plantWebhook))
	cfg += fmt.Sprintf("notifications:\n  email: {smtp: %q, from: ferry@example.com, to: [oncall@example.com], usernameFile: %s, passwordFile: %s}\n",
		smtp.addr, file("smtp-user", "mailer"), file("smtp-pass", plantSMTPPass))
	cfgPath := file("ferry.yaml", cfg)

	reg.push(t, "shop/cart", "main-1")
	digest := reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, nil, "run", "--config", cfgPath, "--work-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 60*time.Second, "both apps in dr", func() bool { return len(fleet.promotions(t)) >= 10 })

	// Webhook authentication and limits, against the running binary.
	body := notification(reg.host, "push", "shop/checkout", "1.0.0", digest)
	post := func(body []byte, headers ...string) int {
		req, _ := http.NewRequest("POST", base+"/hooks/registry", bytes.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, s := range planted {
			if strings.Contains(string(out), s) {
				t.Errorf("a webhook answer shows a secret: %s", out)
			}
		}
		return resp.StatusCode
	}
	head := strings.TrimSpace(fleet.git(t, "rev-parse", "main"))
	for _, c := range []struct {
		name    string
		body    []byte
		headers []string
		want    int
	}{
		{"missing credentials", body, nil, 401},
		{"wrong bearer", body, []string{"Authorization", "Bearer " + plantWebhook + "x"}, 401},
		{"secret as basic auth", body, []string{"Authorization", "Basic " + plantWebhook}, 401},
		{"signature with another secret", body, []string{"X-Ferry-Signature", sign("guess", body)}, 401},
		{"signature of another body", body, []string{"X-Ferry-Signature", sign(plantWebhook, []byte(`{"events":[]}`))}, 401},
		{"body over maxBodyBytes", bytes.Repeat([]byte(" "), 65537), []string{"Authorization", "Bearer " + plantWebhook}, 413},
		{"signed", body, []string{"X-Ferry-Signature", sign(plantWebhook, body)}, 202},
		{"the same signed call replayed", body, []string{"X-Ferry-Signature", sign(plantWebhook, body)}, 202},
	} {
		got := post(c.body, c.headers...)
		if got != c.want && !(c.want == 202 && got/100 == 2) {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}
	time.Sleep(2 * time.Second) // passes the replay triggered
	if after := strings.TrimSpace(fleet.git(t, "rev-parse", "main")); after != head {
		t.Errorf("refused or replayed webhook calls changed the fleet repo:\n%s", fleet.git(t, "log", "--format=%s", head+"..main"))
	}

	// A failing push, from the agent and from a one-off run whose git URL
	// carries the password in its userinfo.
	refusePush.Store(true)
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 30*time.Second, "a refused push logged", func() bool {
		return strings.Contains(strings.ToLower(p.out.String()), "push") && strings.Contains(p.out.String(), "503")
	})
	withCreds := strings.Replace(fleet.url, "http://", "http://ferry:"+url.PathEscape(plantGitPass)+"@", 1)
	// A git.url with credentials is refused before any use, without echoing them.
	refusedOut, code := runFerry(t, "run", "--once", "--config", file("userinfo.yaml", strings.Replace(cfg, fleet.url, withCreds, 1)), "--work-dir", t.TempDir())
	if code == 0 || !strings.Contains(refusedOut, "git.url") {
		t.Errorf("a git.url with credentials was not refused: exit %d:\n%s", code, refusedOut)
	}
	// So is a --config URL with a password (it would reach every message
	// that names the configuration's source).
	fleet.humanCommit(t, "human: ferry.yaml in the fleet", func(d string) { writeFile(t, filepath.Join(d, "ferry.yaml"), cfg) })
	refusedURLOut, code := runFerry(t, "run", "--once", "--config", withCreds, "--work-dir", t.TempDir())
	if code == 0 || !strings.Contains(refusedURLOut, "must not carry credentials") {
		t.Errorf("a --config URL with credentials was not refused: exit %d:\n%s", code, refusedURLOut)
	}
	// --config naming the fleet repo, credentials from files: the
	// configuration is read, then the push is refused.
	once := exec.Command(ferryBin, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	once.Env = append(os.Environ(), "FERRY_GIT_USERNAME_FILE="+filepath.Join(dir, "git-user"), "FERRY_GIT_PASSWORD_FILE="+filepath.Join(dir, "git-pass"))
	b, err := once.CombinedOutput()
	onceOut := string(b)
	if err == nil || !strings.Contains(onceOut, "503") {
		t.Errorf("the one-off run did not meet the refused push: %v:\n%s", err, onceOut)
	}
	refusePush.Store(false)
	waitFor(t, 30*time.Second, "checkout 1.1.0 in dr once pushes are accepted", func() bool {
		return hasTag(fleet.show(t, "overlays/dr/kustomization.yaml"), "1.1.0")
	})

	// Everything ferry said or wrote.
	pages := ""
	for _, path := range []string{"/metrics", "/", "/apps/checkout", "/api/progress"} {
		if resp, err := http.Get(base + path); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pages += string(b)
		}
	}
	sources := map[string]string{
		"agent output":     p.out.String(),
		"--once output":    onceOut,
		"refused config":   refusedOut,
		"refused --config": refusedURLOut,
		"commit messages":  fleet.git(t, "log", "--all", "--format=%B"),
		"notes":            fleet.git(t, "log", "--all", "-p", "--format=%B", "--", "."),
		"mail":             smtp.out.String(),
		"HTTP pages":       pages,
		"refs and objects": fleet.git(t, "for-each-ref"),
	}
	leaks := 0
	for where, text := range sources {
		for _, s := range planted {
			if strings.Contains(text, s) || strings.Contains(text, url.PathEscape(s)) {
				leaks++
				t.Errorf("%s shows the planted secret %q", where, s)
			}
		}
	}
	t.Logf("security: secrets=%d sources=%d bytes-grepped=%d leaks=%d", len(planted), len(sources), func() (n int) {
		for _, s := range sources {
			n += len(s)
		}
		return
	}(), leaks)
}

// TestTLSVerifiedByDefault: a fleet repo served over HTTPS with a
// certificate no trusted CA signed is refused, and nothing is written.
func TestTLSVerifiedByDefault(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, chainConfig)
	reg.push(t, "shop/checkout", "1.0.0")
	reg.push(t, "shop/cart", "main-1")
	target, _ := url.Parse(strings.TrimSuffix(fleet.url, "/fleet.git"))
	tlsSrv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(tlsSrv.Close)
	httpsURL := tlsSrv.URL + "/fleet.git"
	cfg := strings.Replace(fleet.expand(chainConfig, reg.host), fleet.url, httpsURL, 1)
	head := fleet.git(t, "rev-parse", "main")
	out, code := runFerry(t, "run", "--once", "--config", writeFile(t, filepath.Join(t.TempDir(), "ferry.yaml"), cfg), "--work-dir", t.TempDir())
	if code == 0 || !strings.Contains(out, "certificate") {
		t.Fatalf("an unverifiable certificate was accepted: exit %d:\n%s", code, out)
	}
	if fleet.git(t, "rev-parse", "main") != head {
		t.Fatal("ferry wrote through an unverified TLS connection")
	}
}

// TestRegoNoNetwork: a policy calling http.send or net.lookup_ip_addr is
// refused; the server it names is never called.
func TestRegoNoNetwork(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, `{"allow": true}`)
	}))
	t.Cleanup(srv.Close)
	input := writeFile(t, filepath.Join(t.TempDir(), "input.json"),
		`{"app": {"name": "checkout"}, "environment": {"name": "prod"}, "candidate": {"version": "1.0.0"}, "evidence": {}}`)
	for name, rule := range map[string]string{
		"http.send":          fmt.Sprintf(`deny contains "x" if { http.send({"method": "GET", "url": %q}).status_code == 200 }`, srv.URL),
		"net.lookup_ip_addr": `deny contains "x" if { count(net.lookup_ip_addr("localhost")) > 0 }`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.rego"), "package ferry.promotion\n\n"+rule+"\n")
			out, code := runFerry(t, "policy", "eval", "--input", input, "--policies", dir)
			if code == 0 || !strings.Contains(out, name) {
				t.Errorf("a policy calling %s was accepted: exit %d:\n%s", name, code, out)
			}
		})
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("a policy reached the network %d times", n)
	}
}
