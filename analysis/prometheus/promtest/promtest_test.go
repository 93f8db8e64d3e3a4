package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		in, scheme, host, path string
		bad                    bool
	}{
		{in: "127.0.0.1:8080", scheme: "http", host: "127.0.0.1:8080", path: "/metrics"},
		{in: "http://127.0.0.1:8080", scheme: "http", host: "127.0.0.1:8080", path: "/metrics"},
		{in: "https://app.local:8443/custom/metrics", scheme: "https", host: "app.local:8443", path: "/custom/metrics"},
		{in: "127.0.0.1", bad: true},
		{in: "ftp://h:1/x", bad: true},
		{in: "http://u:p@h:1/x", bad: true},
		{in: "http://h:1/x?y=z", bad: true},
	}
	for _, tt := range tests {
		scheme, host, path, err := splitTarget(tt.in, "/metrics")
		if tt.bad != (err != nil) {
			t.Errorf("splitTarget(%q) error %v, want error %v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && (scheme != tt.scheme || host != tt.host || path != tt.path) {
			t.Errorf("splitTarget(%q) = %s %s %s, want %s %s %s", tt.in, scheme, host, path, tt.scheme, tt.host, tt.path)
		}
	}
}

// TestRulesAndAlerts: the rule file is evaluated and firing alerts reach
// the configured Alertmanager (here a receiver of Prometheus's POSTs).
func TestRulesAndAlerts(t *testing.T) {
	var mu sync.Mutex
	var alerts []string
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/am/api/v2/alerts" {
			t.Errorf("alertmanager got %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		var batch []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			t.Errorf("alert batch: %v", err)
		}
		mu.Lock()
		for _, a := range batch {
			alerts = append(alerts, a.Labels["alertname"])
		}
		mu.Unlock()
	}))
	t.Cleanup(am.Close)

	s := StartConfig(t, Config{
		Rules: `groups:
  - name: promtest
    rules:
      - record: promtest:one
        expr: vector(1)
      - alert: PromtestAlways
        expr: vector(1)
        labels: {severity: critical}
`,
		Alertmanagers: []string{am.URL + "/am"},
	})
	client, err := api.NewClient(api.Config{Address: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	promAPI := v1.NewAPI(client)

	ctx, cancel := context.WithTimeout(t.Context(), scrapedWithin)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	recorded := false
	for {
		if !recorded {
			v, _, _, err := promAPI.Query(ctx, "promtest:one", time.Time{})
			vec, ok := v.(model.Vector)
			recorded = err == nil && ok && len(vec) == 1 && vec[0].Value == 1
		}
		mu.Lock()
		got := fmt.Sprint(alerts)
		fired := len(alerts) > 0 && alerts[0] == "PromtestAlways"
		mu.Unlock()
		if recorded && fired {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("within %s: recording rule evaluated %v, alerts received %s", scrapedWithin, recorded, got)
		case <-tick.C:
		}
	}
}
