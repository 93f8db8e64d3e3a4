package webhook

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRealAlertmanager runs Alertmanager (Debian's prometheus-alertmanager)
// with a webhook receiver on our Handler, posts an alert to its API, then
// resolves it, and expects both to be handed on, authenticated by the
// bearer token Alertmanager sends.
func TestRealAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Skip("prometheus-alertmanager not installed (apt-get install prometheus-alertmanager; the Makefile does)")
	}
	got := make(chan []AlertEvent, 16)
	var refused atomic.Int32
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnAlerts: func(_ context.Context, evs []AlertEvent) { got <- evs }})
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			refused.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer hooks.Close()

	addr := freeAddr(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`route: {receiver: ferry, group_wait: 0s, group_interval: 1s, repeat_interval: 1h, group_by: [alertname, app, env]}
receivers:
  - name: ferry
    webhook_configs:
      - url: %s/hooks/alertmanager
        send_resolved: true
        http_config: {authorization: {credentials: %s}}
`, hooks.URL, testSecret)
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgFile, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	var out bytes.Buffer // shown only when the test fails
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", out.String())
		}
	})
	api := "http://" + addr
	waitReady(ctx, t, api+"/-/ready")

	alert := `{"labels":{"alertname":"HighErrorRate","app":"checkout","env":"prod","severity":"critical"},` +
		`"annotations":{"summary":"checkout 5xx ratio above 5% in prod"},"generatorURL":"http://prometheus.internal:9090/graph"`
	postAlert(ctx, t, api, "["+alert+"}]")
	firing := receive(ctx, t, got)
	want := AlertEvent{App: "checkout", Env: "prod", Status: StatusFiring, AlertName: "HighErrorRate",
		Fingerprint: fpCheckoutProd, Summary: "checkout 5xx ratio above 5% in prod"}
	if firing.App != want.App || firing.Env != want.Env || firing.Status != want.Status || firing.AlertName != want.AlertName ||
		firing.Fingerprint != want.Fingerprint || firing.Summary != want.Summary || firing.StartsAt.IsZero() {
		t.Fatalf("handed on %+v, want %+v with a start time", firing, want)
	}

	postAlert(ctx, t, api, "["+alert+`,"endsAt":"`+time.Now().UTC().Format(time.RFC3339Nano)+`"}]`)
	resolved := receive(ctx, t, got)
	if resolved.Status != StatusResolved || resolved.Fingerprint != fpCheckoutProd || !resolved.StartsAt.Equal(firing.StartsAt) || resolved.EndsAt.IsZero() {
		t.Fatalf("handed on %+v, want the alert resolved", resolved)
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("the handler refused %d of Alertmanager's notifications", n)
	}
}

// postAlert posts alerts (a JSON list) to Alertmanager's API v2.
func postAlert(ctx context.Context, t *testing.T, api, alerts string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", api+"/api/v2/alerts", strings.NewReader(alerts))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post alert: %s", resp.Status)
	}
}

// receive waits for one call handing on one event.
func receive(ctx context.Context, t *testing.T, got <-chan []AlertEvent) AlertEvent {
	t.Helper()
	select {
	case evs := <-got:
		if len(evs) != 1 {
			t.Fatalf("handed on %+v, want one alert", evs)
		}
		return evs[0]
	case <-ctx.Done():
		t.Fatal("no notification from Alertmanager")
	}
	return AlertEvent{}
}
