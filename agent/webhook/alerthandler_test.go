package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// alertRecorder keeps what onAlerts was handed.
type alertRecorder struct {
	mu    sync.Mutex
	calls [][]AlertEvent
}

func (rc *alertRecorder) onAlerts(_ context.Context, evs []AlertEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls = append(rc.calls, evs)
}

// fingerprints lists the events of each call as fingerprint:status.
func (rc *alertRecorder) fingerprints() [][]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out [][]string
	for _, evs := range rc.calls {
		var call []string
		for _, ev := range evs {
			call = append(call, ev.Fingerprint+":"+ev.Status)
		}
		out = append(out, call)
	}
	return out
}

// postAlerts sends body to /hooks/alertmanager and returns the status and
// the response body.
func postAlerts(t *testing.T, h http.Handler, method string, headers map[string]string, body []byte) (int, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+"/hooks/alertmanager", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, msg
}

func TestAlertmanagerHandler(t *testing.T) {
	firing := readSample(t, "alertmanager-firing.json")
	batch := readSample(t, "alertmanager-batch.json")
	bearer := map[string]string{"Authorization": "Bearer " + testSecret}
	critical, err := NewAlertRouter(AlertRouting{Match: []string{"severity=critical"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		limit       int64
		router      *AlertRouter
		method      string
		headers     map[string]string
		body        []byte
		wantStatus  int
		wantCalls   [][]string // fingerprint:status handed on, per call
		wantSummary *alertSummary
		wantLogs    []string
	}{
		{
			name: "firing with bearer", method: "POST", headers: bearer, body: firing, wantStatus: 200,
			wantCalls:   [][]string{{fpCheckoutProd + ":firing"}},
			wantSummary: &alertSummary{Accepted: 1, Ignored: []Ignored{}},
			wantLogs:    []string{`msg="alert accepted" alertname=HighErrorRate app=checkout env=prod status=firing fingerprint=` + fpCheckoutProd},
		},
		{
			name: "resolved with HMAC", method: "POST", headers: map[string]string{SignatureHeader: sign(testSecret, readSample(t, "alertmanager-resolved.json"))},
			body: readSample(t, "alertmanager-resolved.json"), wantStatus: 200,
			wantCalls:   [][]string{{fpCheckoutProd + ":resolved"}},
			wantSummary: &alertSummary{Accepted: 1, Ignored: []Ignored{}},
		},
		{
			name: "batch: some ignored", method: "POST", headers: bearer, body: batch, wantStatus: 200,
			wantCalls: [][]string{{fpCartProd + ":firing", fpCheckoutQA + ":firing"}},
			wantSummary: &alertSummary{Accepted: 2, Ignored: []Ignored{
				{fpPayments, "SLOBurnRate", `no "env" label`},
				{fpSearch, "SLOBurnRate", `no "app" label`},
			}},
			wantLogs: []string{
				`msg="alert ignored" alertname=SLOBurnRate fingerprint=` + fpPayments + ` reason="no \"env\" label"`,
				`msg="alert ignored" alertname=SLOBurnRate fingerprint=` + fpSearch + ` reason="no \"app\" label"`,
				`msg="alert accepted" alertname=SLOBurnRate app=cart env=prod`,
				`msg="alert accepted" alertname=SLOBurnRate app=checkout env=qa`,
			},
		},
		{
			name: "matchers narrow", router: critical, method: "POST", headers: bearer, body: readSample(t, "alertmanager-mixed.json"), wantStatus: 200,
			wantCalls: [][]string{{fpCartProd + ":resolved"}},
			wantSummary: &alertSummary{Accepted: 1, Ignored: []Ignored{
				{fpPayments, "SLOBurnRate", `no "env" label`},
				{fpSearch, "SLOBurnRate", `no "app" label`},
				{fpCheckoutQA, "SLOBurnRate", `does not match severity="critical"`},
			}},
			wantLogs: []string{`reason="does not match severity=\"critical\""`},
		},
		{
			name: "truncated notification warns", router: critical, method: "POST", headers: bearer, body: readSample(t, "alertmanager-truncated.json"), wantStatus: 200,
			wantCalls: [][]string{{fpCartProd + ":firing"}},
			wantSummary: &alertSummary{Accepted: 1, Ignored: []Ignored{
				{fpPayments, "SLOBurnRate", `no "env" label`},
			}},
			wantLogs: []string{`msg="Alertmanager left alerts out of a notification; raise max_alerts on its webhook receiver" group="{}:{alertname=\"SLOBurnRate\"}" truncated=1`},
		},
		{
			name: "all ignored", method: "POST", headers: bearer, body: []byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Watchdog"},"fingerprint":"w"}]}`), wantStatus: 200,
			wantSummary: &alertSummary{Ignored: []Ignored{{"w", "Watchdog", `no "app" label`}}},
		},
		{name: "missing credentials", method: "POST", body: firing, wantStatus: 401},
		{name: "wrong bearer", method: "POST", headers: map[string]string{"Authorization": "Bearer guess"}, body: firing, wantStatus: 401},
		{name: "signature of another body", method: "POST", headers: map[string]string{SignatureHeader: sign(testSecret, batch)}, body: firing, wantStatus: 401},
		{name: "oversized", limit: 100, method: "POST", headers: bearer, body: firing, wantStatus: 413},
		// No credentials: refused from the headers, the body is never read.
		{name: "oversized without credentials", limit: 100, method: "POST", body: firing, wantStatus: 401},
		{name: "oversized, signed", limit: 100, method: "POST", headers: map[string]string{SignatureHeader: sign(testSecret, firing)}, body: firing, wantStatus: 413},
		{name: "bad JSON", method: "POST", headers: bearer, body: []byte("{\n\"version\": \"4\",\n\"alerts\": [}"), wantStatus: 400, wantLogs: []string{"line 3, column 12"}},
		{name: "version 3", method: "POST", headers: bearer, body: []byte(`{"version":"3","status":"firing","alerts":[]}`), wantStatus: 400},
		{name: "GET", method: "GET", headers: bearer, wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			rc := &alertRecorder{}
			h := New(HandlerOptions{
				Verifier: NewVerifier(testSecret), MaxBody: tt.limit, Log: slog.New(slog.NewTextHandler(&logs, nil)),
				OnAlerts: rc.onAlerts, AlertRouter: tt.router,
			})
			status, msg := postAlerts(t, h, tt.method, tt.headers, tt.body)
			if status != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", status, msg, tt.wantStatus)
			}
			if got := rc.fingerprints(); !reflect.DeepEqual(got, tt.wantCalls) {
				t.Errorf("onAlerts calls\ngot  %q\nwant %q", got, tt.wantCalls)
			}
			if tt.wantSummary != nil {
				var got alertSummary
				if err := json.Unmarshal(msg, &got); err != nil {
					t.Fatalf("response %s: %v", msg, err)
				}
				if !reflect.DeepEqual(got, *tt.wantSummary) {
					t.Errorf("summary\ngot  %+v\nwant %+v", got, *tt.wantSummary)
				}
			}
			if tt.wantStatus == 400 && !strings.Contains(string(msg), "alertmanager webhook") {
				t.Errorf("400 body does not say what was wrong: %s", msg)
			}
			for _, w := range tt.wantLogs {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("logs lack %s:\n%s", w, logs.String())
				}
			}
			if strings.Contains(logs.String()+string(msg), testSecret) {
				t.Errorf("the secret reached a log or a response:\n%s\n%s", logs.String(), msg)
			}
		})
	}
}

// TestAlertmanagerHandlerDedupes replays what Alertmanager sends over an
// alert's life: resends of a firing alert reach the callback once, and so
// does its resolution.
func TestAlertmanagerHandlerDedupes(t *testing.T) {
	rc := &alertRecorder{}
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnAlerts: rc.onAlerts})
	bearer := map[string]string{"Authorization": "Bearer " + testSecret}
	steps := []struct {
		sample   string
		want     alertSummary
		wantCall []string // nil: no call
	}{
		{"alertmanager-firing.json", alertSummary{Accepted: 1, Ignored: []Ignored{}}, []string{fpCheckoutProd + ":firing"}},
		{"alertmanager-firing.json", alertSummary{Duplicates: 1, Ignored: []Ignored{}}, nil},
		{"alertmanager-resolved.json", alertSummary{Accepted: 1, Ignored: []Ignored{}}, []string{fpCheckoutProd + ":resolved"}},
		{"alertmanager-resolved.json", alertSummary{Duplicates: 1, Ignored: []Ignored{}}, nil},
	}
	var wantCalls [][]string
	for i, s := range steps {
		status, msg := postAlerts(t, h, "POST", bearer, readSample(t, s.sample))
		var got alertSummary
		if err := json.Unmarshal(msg, &got); status != 200 || err != nil {
			t.Fatalf("step %d: status %d, %s, %v", i, status, msg, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("step %d: summary %+v, want %+v", i, got, s.want)
		}
		if s.wantCall != nil {
			wantCalls = append(wantCalls, s.wantCall)
		}
		if got := rc.fingerprints(); !reflect.DeepEqual(got, wantCalls) {
			t.Fatalf("step %d: calls %q, want %q", i, got, wantCalls)
		}
	}
}

// TestAlertmanagerHandlerServed: the endpoint exists only with a callback,
// so a handler for registry and git pushes keeps those routes and nothing else.
func TestAlertmanagerHandlerServed(t *testing.T) {
	bearer := map[string]string{"Authorization": "Bearer " + testSecret}
	pushes := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnRegistry: (&recorder{}).onRegistry, OnPush: (&recorder{}).onPush})
	if status, _ := postAlerts(t, pushes, "POST", bearer, readSample(t, "alertmanager-firing.json")); status != http.StatusNotFound {
		t.Errorf("a handler without OnAlerts serves /hooks/alertmanager: status %d, want 404", status)
	}
	ctxs := make(chan context.Context, 1)
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnAlerts: func(ctx context.Context, _ []AlertEvent) { ctxs <- ctx }})
	if status, msg := postAlerts(t, h, "POST", bearer, readSample(t, "alertmanager-firing.json")); status != http.StatusOK {
		t.Fatalf("status %d: %s", status, msg)
	}
	if ctx := <-ctxs; ctx.Done() != nil {
		t.Error("callback context can be cancelled with the request")
	}
	if status, _ := postAlerts(t, h, "POST", bearer, []byte(`{}`)); status != http.StatusBadRequest {
		t.Errorf("status %d for an empty object, want 400", status)
	}
}

// TestSetAlertRouter: a changed rollback.labels applies to the next alert
// (H10: a commit changing it was reported reloaded, but alerts kept being
// mapped by the old labels until a restart).
func TestSetAlertRouter(t *testing.T) {
	rc := &alertRecorder{}
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnAlerts: rc.onAlerts, Deduper: &Deduper{}})
	body := []byte(strings.NewReplacer(`"app":"checkout"`, `"service":"checkout"`, `"env":"prod"`, `"environment":"prod"`).
		Replace(string(readSample(t, "alertmanager-firing.json"))))
	auth := map[string]string{"Authorization": "Bearer " + testSecret}
	if code, msg := postAlerts(t, h, "POST", auth, body); code != http.StatusOK || len(rc.fingerprints()) != 0 {
		t.Fatalf("with the default labels: %d %s, handed on %v; want it ignored", code, msg, rc.fingerprints())
	}
	r, err := NewAlertRouter(AlertRouting{AppLabel: "service", EnvLabel: "environment"})
	if err != nil {
		t.Fatal(err)
	}
	h.SetAlertRouter(r)
	if code, msg := postAlerts(t, h, "POST", auth, body); code != http.StatusOK || len(rc.fingerprints()) != 1 {
		t.Fatalf("with service/environment: %d %s, handed on %v; want the alert", code, msg, rc.fingerprints())
	}
}
