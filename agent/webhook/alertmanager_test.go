package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// Fingerprints Alertmanager 0.25 gave the sample alerts (testdata/alertmanager.md).
const (
	fpCheckoutProd = "fcc72856677bf695" // HighErrorRate app=checkout env=prod severity=critical
	fpPayments     = "d1b4f2eb32c369a3" // SLOBurnRate app=payments (no env)
	fpSearch       = "5d679e429ec9ea00" // SLOBurnRate service=search stage=ppd
	fpCartProd     = "5f9cd9b8ec8f04de" // SLOBurnRate app=cart env=prod severity=critical
	fpCheckoutQA   = "a23911bf1001d538" // SLOBurnRate app=checkout env=qa severity=warning
)

func TestParseAlertmanagerSamples(t *testing.T) {
	tests := []struct {
		sample    string
		status    string
		group     string
		truncated uint64
		alerts    []string // fingerprint:status, in order
	}{
		{"alertmanager-firing.json", "firing", `{}:{alertname="HighErrorRate", app="checkout", env="prod"}`, 0, []string{fpCheckoutProd + ":firing"}},
		{"alertmanager-resolved.json", "resolved", `{}:{alertname="HighErrorRate", app="checkout", env="prod"}`, 0, []string{fpCheckoutProd + ":resolved"}},
		{"alertmanager-batch.json", "firing", `{}:{alertname="SLOBurnRate"}`, 0, []string{fpPayments + ":firing", fpSearch + ":firing", fpCartProd + ":firing", fpCheckoutQA + ":firing"}},
		{"alertmanager-mixed.json", "firing", `{}:{alertname="SLOBurnRate"}`, 0, []string{fpPayments + ":firing", fpSearch + ":firing", fpCartProd + ":resolved", fpCheckoutQA + ":firing"}},
		{"alertmanager-truncated.json", "firing", `{}:{alertname="SLOBurnRate"}`, 1, []string{fpPayments + ":firing", fpCartProd + ":firing"}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			body := readSample(t, tt.sample)
			p, err := parseAlertmanager(body)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range p.Alerts {
				got = append(got, a.Fingerprint+":"+a.Status)
			}
			if p.Status != tt.status || p.GroupKey != tt.group || p.TruncatedAlerts != tt.truncated || !reflect.DeepEqual(got, tt.alerts) {
				t.Errorf("got status %s group %s truncated %d alerts %v\nwant status %s group %s truncated %d alerts %v",
					p.Status, p.GroupKey, p.TruncatedAlerts, got, tt.status, tt.group, tt.truncated, tt.alerts)
			}
			data, err := ParseAlertmanager(body)
			if err != nil || !reflect.DeepEqual(data, p.Data) {
				t.Errorf("ParseAlertmanager = %+v, %v; want the payload's data", data, err)
			}
		})
	}
}

func TestParseAlertmanagerFields(t *testing.T) {
	data, err := ParseAlertmanager(readSample(t, "alertmanager-resolved.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := template.Alert{
		Status:       "resolved",
		Labels:       template.KV{"alertname": "HighErrorRate", "app": "checkout", "env": "prod", "severity": "critical"},
		Annotations:  template.KV{"summary": "checkout 5xx ratio above 5% in prod", "description": "5xx ratio is 12.5%"},
		StartsAt:     time.Date(2026, 11, 25, 21, 11, 46, 348178778, time.UTC),
		EndsAt:       time.Date(2026, 11, 25, 21, 12, 1, 0, time.UTC),
		GeneratorURL: "http://prometheus.internal:9090/graph?g0.expr=job%3Acheckout_5xx%3Aratio5m+%3E+0.05&g0.tab=1",
		Fingerprint:  fpCheckoutProd,
	}
	if len(data.Alerts) != 1 || !reflect.DeepEqual(data.Alerts[0], want) {
		t.Errorf("got  %+v\nwant %+v", data.Alerts, want)
	}
	if data.Receiver != "ferry" || data.ExternalURL != "http://vm:19093" || data.GroupLabels["app"] != "checkout" {
		t.Errorf("envelope: %+v", data)
	}
}

func TestParseAlertmanagerErrors(t *testing.T) {
	alert := func(status string) string {
		return `{"status":"` + status + `","labels":{"alertname":"A"},"startsAt":"2026-11-25T21:11:46Z","fingerprint":"1"}`
	}
	tooMany := `{"version":"4","status":"firing","alerts":[` + strings.TrimSuffix(strings.Repeat(alert("firing")+",", MaxAlerts+1), ",") + `]}`
	tests := []struct{ name, body, want string }{
		{"empty", " \n", "empty body"},
		{"truncated", `{"version":"4",`, "line 1, column 15: unexpected end of input"},
		{"syntax error on line 3", "{\n  \"version\": \"4\",\n  \"alerts\": [}\n", "line 3, column 14: invalid character '}'"},
		{"label value not a string", "{\n  \"version\": \"4\",\n  \"alerts\": [\n    {\"labels\": {\"app\": 5}}\n  ]\n}", "line 4, column 24: alerts.labels: got number, want string"},
		{"version a number", `{"version":4}`, "line 1, column 12: version: got number, want string"},
		{"alerts an object", `{"version":"4","alerts":{}}`, "line 1, column 25: alerts: got object, want array"},
		{"negative truncatedAlerts", `{"truncatedAlerts":-1}`, "truncatedAlerts: got number -1, want non-negative integer"},
		{"array", `[]`, "line 1, column 1: document: got array, want object"},
		{"trailing data", `{"version":"4","status":"firing"} x`, "line 1, column 35: data after the JSON value"},
		{"bad startsAt", `{"version":"4","alerts":[` + alert("firing") + `,{"startsAt":"yesterday"}]}`, `alerts[1].startsAt: "yesterday" is not an RFC 3339 time`},
		{"endsAt a number", `{"alerts":[{"endsAt":12}]}`, `alerts[0].endsAt: 12 is not an RFC 3339 time`},
		{"no version", `{"status":"firing","alerts":[]}`, `no "version", want "4"`},
		{"version 3", `{"version":"3","status":"firing","alerts":[]}`, `version "3", want "4"`},
		{"group status", `{"version":"4","status":"pending","alerts":[]}`, `status "pending", want "firing" or "resolved"`},
		{"alert status", `{"version":"4","status":"firing","alerts":[` + alert("firing") + "," + alert("pending") + `]}`, `alerts[1] (A): status "pending"`},
		{"too many alerts", tooMany, fmt.Sprintf("%d alerts, more than %d", MaxAlerts+1, MaxAlerts)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ParseAlertmanager([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "alertmanager webhook: ") {
				t.Fatalf("got %+v, %v; want an error with %q", data, err, tt.want)
			}
		})
	}
}

// TestParseAlertmanagerKeepsJSONErrors: callers can still tell a type error.
func TestParseAlertmanagerKeepsJSONErrors(t *testing.T) {
	_, err := ParseAlertmanager([]byte(`{"version":4}`))
	var typ *json.UnmarshalTypeError
	if !errors.As(err, &typ) {
		t.Fatalf("%v does not unwrap to *json.UnmarshalTypeError", err)
	}
}
