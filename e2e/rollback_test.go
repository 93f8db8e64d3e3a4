//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
	"github.com/ferry-dev/ferry/e2e/testsvc"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

const errorRateRule = `groups:
  - name: ferry-e2e
    rules:
      - alert: HighErrorRate
        expr: sum by (app, env) (rate(http_requests_total{code="500"}[5s])) / sum by (app, env) (rate(http_requests_total[5s])) > 0.05
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "error ratio above 5%"}
`

// startAlertmanager runs Debian's Alertmanager with the fast intervals of
// docs/design.md, sending every alert to ferry's webhook with a bearer token.
func startAlertmanager(t testing.TB, webhook, token string) string {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf(`route:
  receiver: ferry
  group_by: [alertname, app, env]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ferry
    webhook_configs:
      - url: %s
        send_resolved: true
        http_config: {authorization: {credentials: %q}}
`, webhook, token)
	path := writeFile(t, filepath.Join(dir, "alertmanager.yml"), cfg)
	cmd := exec.Command("prometheus-alertmanager", "--config.file="+path, "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus-alertmanager (run e2e/setup.sh): %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 15*time.Second, "alertmanager ready", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr
}

// TestAlertRollback: a real alert rule on the service's error rate fires in
// Prometheus, Alertmanager calls ferry, and ferry commits the rollback of prod
// (and of dr, which mirrors it) to the last good version; the bad version is
// rejected and not promoted again.
func TestAlertRollback(t *testing.T) {
	port := freePort(t)
	token := "alert-hook-token"
	reg := startRegistry(t, "", "")
	svc, err := testsvc.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	am := startAlertmanager(t, fmt.Sprintf("http://127.0.0.1:%d/hooks/alertmanager", port), token)
	promtest.StartConfig(t, promtest.Config{Targets: []string{svc.Addr()}, Rules: errorRateRule, Alertmanagers: []string{am}})

	smtp := startSMTPSink(t)
	cfg := chainConfig + "git:\n  interval: 1s\nregistry: {interval: 1s}\nrollback: {match: {severity: critical}, freezeUntilResolved: true}\n" +
		"notifications:\n  email: {smtp: \"" + smtp.addr + "\", from: ferry@example.com, to: [oncall@example.com]}\n  events: [rollback]\n"
	cfg = strings.Replace(cfg, "git:\n  url: FLEET\n  branch: main\n  author: {name: ferry, email: ferry@example.com}\n", "", 1)
	cfg = strings.Replace(cfg, "git:\n  interval: 1s\n", "git:\n  url: FLEET\n  branch: main\n  interval: 1s\n", 1)
	fleet := startFleet(t, reg.host, cfg)
	reg.push(t, "shop/cart", "main-1")
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, []string{"FERRY_WEBHOOK_TOKEN=" + token}, "run", "--config", fleet.url, "--work-dir", t.TempDir(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", port))
	inDR := func(v string) func() bool {
		return func() bool { return strings.Contains(fleet.show(t, "overlays/dr/kustomization.yaml"), "newTag: "+v) }
	}
	waitFor(t, 30*time.Second, "checkout 1.0.0 in dr", inDR("1.0.0"))
	svc.Set("checkout", "prod", "1.0.0", 0)
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 30*time.Second, "checkout 1.1.0 in dr", inDR("1.1.0"))

	// An unauthenticated call is refused and changes nothing.
	head := fleet.git(t, "rev-parse", "main")
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/hooks/alertmanager", port), "application/json", strings.NewReader(`{"version":"4","alerts":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || fleet.git(t, "rev-parse", "main") != head {
		t.Fatalf("unauthenticated alert: status %d; the fleet repo must not change", resp.StatusCode)
	}

	// 1.1.0 in prod goes bad.
	svc.Remove("checkout", "prod", "1.0.0")
	svc.Set("checkout", "prod", "1.1.0", 0.5)
	start := time.Now()
	waitFor(t, 60*time.Second, "the rollback commit", func() bool {
		return strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "rollback checkout in prod to 1.0.0")
	})
	t.Logf("error rate up -> rollback commit pushed: %s (Prometheus scrape + rule evaluation + Alertmanager + ferry)", time.Since(start).Round(100*time.Millisecond))
	msg := fleet.git(t, "log", "-1", "--format=%B", "--grep=^rollback checkout in prod", "main")
	for _, want := range []string{"Ferry-App: checkout", "Ferry-Env: prod", "Ferry-Version: 1.0.0", "Ferry-Rejects: 1.1.0", "Ferry-Reason: alert HighErrorRate", "Ferry-Mirrors: dr"} {
		if !strings.Contains(msg, want) {
			t.Errorf("rollback commit lacks %q:\n%s", want, msg)
		}
	}
	for _, env := range []string{"prod", "dr"} {
		if k := fleet.show(t, "overlays/"+env+"/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
			t.Errorf("%s was not rolled back:\n%s", env, k)
		}
	}
	if rej := fleet.show(t, ".ferry/rejected.yaml"); !strings.Contains(rej, "1.1.0") {
		t.Fatalf("1.1.0 is not recorded as rejected:\n%s", rej)
	}
	waitFor(t, 30*time.Second, "the rollback email", func() bool { return strings.Contains(smtp.out.String(), "oncall@example.com") })
	if mail := smtp.out.String(); !strings.Contains(mail, "checkout") || !strings.Contains(mail, "prod") || strings.Contains(mail, "promote") {
		t.Errorf("the mail should be about the rollback only:\n%s", mail)
	}
	if frz := fleet.show(t, ".ferry/freeze.yaml"); !strings.Contains(frz, "until: resolved") {
		t.Fatalf("prod is not frozen until the alert resolves:\n%s", frz)
	}
	// Later passes (every second) must not bring 1.1.0 back to prod.
	rolledBack := strings.TrimSpace(fleet.git(t, "rev-parse", "main"))
	time.Sleep(4 * time.Second)
	if k := fleet.show(t, "overlays/prod/kustomization.yaml"); !strings.Contains(k, "newTag: 1.0.0") {
		t.Fatalf("the rejected version came back to prod:\n%s\n%s", k, p.out.String())
	}
	if n := strings.Count(fleet.git(t, "log", "--format=%s", rolledBack+"..main"), "promote checkout 1.1.0"); n != 0 {
		t.Fatalf("1.1.0 promoted again %d times after the rollback", n)
	}
	// prod is healthy again: the alert resolves and its freeze is lifted.
	svc.Remove("checkout", "prod", "1.1.0")
	svc.Set("checkout", "prod", "1.0.0", 0)
	waitFor(t, 60*time.Second, "the freeze lifted when the alert resolved", func() bool {
		return strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "unfreeze prod: alert HighErrorRate resolved")
	})
}

// smtpSink is Debian's aiosmtpd, printing every message it receives.
type smtpSink struct {
	addr string
	out  *syncbuf.Buffer
}

func startSMTPSink(t testing.TB) *smtpSink {
	t.Helper()
	s := &smtpSink{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), out: &syncbuf.Buffer{}}
	cmd := exec.Command("/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", s.addr)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aiosmtpd (run e2e/setup.sh): %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 10*time.Second, "the SMTP sink", func() bool {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}
