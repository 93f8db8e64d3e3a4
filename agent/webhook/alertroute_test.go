package webhook

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
)

func TestAlertRouterRoute(t *testing.T) {
	noEnv := `no "env" label`
	noApp := `no "app" label`
	tests := []struct {
		name    string
		sample  string
		routing AlertRouting
		want    []string // app/env/status/fingerprint of the events, in order
		ignored []Ignored
	}{
		{
			name: "default labels", sample: "alertmanager-batch.json",
			want: []string{"cart/prod/firing/" + fpCartProd, "checkout/qa/firing/" + fpCheckoutQA},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
			},
		},
		{
			name: "custom labels", sample: "alertmanager-batch.json", routing: AlertRouting{AppLabel: "service", EnvLabel: "stage"},
			want: []string{"search/ppd/firing/" + fpSearch},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", `no "service" label`},
				{fpCartProd, "SLOBurnRate", `no "service" label`},
				{fpCheckoutQA, "SLOBurnRate", `no "service" label`},
			},
		},
		{
			name: "only the env label customised", sample: "alertmanager-batch.json", routing: AlertRouting{EnvLabel: "stage"},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", `no "stage" label`},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `no "stage" label`},
				{fpCheckoutQA, "SLOBurnRate", `no "stage" label`},
			},
		},
		{
			name: "= unquoted", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{"severity=critical"}},
			want: []string{"cart/prod/firing/" + fpCartProd},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCheckoutQA, "SLOBurnRate", `does not match severity="critical"`},
			},
		},
		{
			name: "= quoted, spaced", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{` severity = "critical" `}},
			want: []string{"cart/prod/firing/" + fpCartProd},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCheckoutQA, "SLOBurnRate", `does not match severity="critical"`},
			},
		},
		{
			name: "!=", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{"env!=prod"}},
			want: []string{"checkout/qa/firing/" + fpCheckoutQA},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `does not match env!="prod"`},
			},
		},
		{
			name: "=~ is anchored", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{`app=~"check"`}},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `does not match app=~"check"`},
				{fpCheckoutQA, "SLOBurnRate", `does not match app=~"check"`},
			},
		},
		{
			name: "=~", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{`severity=~"warn.*|page"`}},
			want: []string{"checkout/qa/firing/" + fpCheckoutQA},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `does not match severity=~"warn.*|page"`},
			},
		},
		{
			name: "!~", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{`app!~"ca.*"`}},
			want: []string{"checkout/qa/firing/" + fpCheckoutQA},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `does not match app!~"ca.*"`},
			},
		},
		{
			name: "missing label does not equal a value", sample: "alertmanager-firing.json", routing: AlertRouting{Match: []string{"team=shop"}},
			ignored: []Ignored{{fpCheckoutProd, "HighErrorRate", `does not match team="shop"`}},
		},
		{
			name: "missing label differs from a value", sample: "alertmanager-firing.json", routing: AlertRouting{Match: []string{"team!=infra"}},
			want: []string{"checkout/prod/firing/" + fpCheckoutProd},
		},
		{
			name: "every matcher must hold", sample: "alertmanager-batch.json", routing: AlertRouting{Match: []string{"severity=critical", "env=qa"}},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCartProd, "SLOBurnRate", `does not match env="qa"`},
				{fpCheckoutQA, "SLOBurnRate", `does not match severity="critical"`},
			},
		},
		{
			name: "resolved alerts are routed", sample: "alertmanager-resolved.json",
			want: []string{"checkout/prod/resolved/" + fpCheckoutProd},
		},
		{
			name: "matchers apply to resolved alerts", sample: "alertmanager-mixed.json", routing: AlertRouting{Match: []string{"severity=critical"}},
			want: []string{"cart/prod/resolved/" + fpCartProd},
			ignored: []Ignored{
				{fpPayments, "SLOBurnRate", noEnv},
				{fpSearch, "SLOBurnRate", noApp},
				{fpCheckoutQA, "SLOBurnRate", `does not match severity="critical"`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewAlertRouter(tt.routing)
			if err != nil {
				t.Fatal(err)
			}
			data, err := ParseAlertmanager(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			events, ignored := r.Route(data)
			var got []string
			for _, ev := range events {
				got = append(got, strings.Join([]string{ev.App, ev.Env, ev.Status, ev.Fingerprint}, "/"))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events\ngot  %q\nwant %q", got, tt.want)
			}
			if !reflect.DeepEqual(ignored, tt.ignored) {
				t.Errorf("ignored\ngot  %q\nwant %q", ignored, tt.ignored)
			}
		})
	}
}

func TestAlertRouterEvent(t *testing.T) {
	data, err := ParseAlertmanager(readSample(t, "alertmanager-firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewAlertRouter(AlertRouting{})
	if err != nil {
		t.Fatal(err)
	}
	events, ignored := r.Route(data)
	want := AlertEvent{
		App: "checkout", Env: "prod", Status: "firing", AlertName: "HighErrorRate", Fingerprint: fpCheckoutProd,
		Summary:      "checkout 5xx ratio above 5% in prod",
		Labels:       map[string]string{"alertname": "HighErrorRate", "app": "checkout", "env": "prod", "severity": "critical"},
		StartsAt:     time.Date(2026, 11, 25, 21, 11, 46, 348178778, time.UTC),
		GeneratorURL: "http://prometheus.internal:9090/graph?g0.expr=job%3Acheckout_5xx%3Aratio5m+%3E+0.05&g0.tab=1",
	}
	if len(events) != 1 || len(ignored) != 0 || !reflect.DeepEqual(events[0], want) {
		t.Fatalf("got %+v, ignored %+v\nwant %+v", events, ignored, want)
	}
	// The event owns its labels.
	events[0].Labels["app"] = "changed"
	if data.Alerts[0].Labels["app"] != "checkout" {
		t.Error("event labels alias the payload's")
	}
}

// TestAlertRouterHandWritten: payloads not from Alertmanager may leave out
// the fingerprint (computed as Alertmanager does) or the summary.
func TestAlertRouterHandWritten(t *testing.T) {
	r, err := NewAlertRouter(AlertRouting{})
	if err != nil {
		t.Fatal(err)
	}
	labels := template.KV{"alertname": "HighErrorRate", "app": "checkout", "env": "prod", "severity": "critical"}
	events, ignored := r.Route(template.Data{Alerts: template.Alerts{
		{Status: "firing", Labels: labels, Annotations: template.KV{"description": "5xx ratio is 12.5%"}},
		{Status: "pending", Labels: labels, Fingerprint: "x"},
		{Status: "firing", Labels: template.KV{"app": "checkout", "env": ""}, Fingerprint: "y"},
	}})
	if len(events) != 1 || events[0].Fingerprint != fpCheckoutProd || events[0].Summary != "5xx ratio is 12.5%" {
		t.Errorf("events %+v; want fingerprint %s and the description as summary", events, fpCheckoutProd)
	}
	want := []Ignored{{"x", "HighErrorRate", `status "pending" is neither firing nor resolved`}, {"y", "", `no "env" label`}}
	if !reflect.DeepEqual(ignored, want) {
		t.Errorf("ignored\ngot  %q\nwant %q", ignored, want)
	}
}

func TestNewAlertRouterErrors(t *testing.T) {
	tests := []struct {
		name    string
		routing AlertRouting
		want    []string
	}{
		{"no operator", AlertRouting{Match: []string{"severity"}}, []string{`match[0] "severity": bad matcher format`}},
		{"no name", AlertRouting{Match: []string{"severity=critical", "=critical"}}, []string{`match[1] "=critical"`}},
		{"open quote", AlertRouting{Match: []string{`severity="crit`}}, []string{`match[0] "severity=\"crit"`, "unescaped double quote"}},
		{"bad regexp", AlertRouting{Match: []string{`app=~"(("`}}, []string{`match[0] "app=~\"((\""`, "missing closing )"}},
		{"every bad matcher named", AlertRouting{Match: []string{"a", "b=c", "d"}}, []string{`match[0] "a"`, `match[2] "d"`}},
		{"same label twice", AlertRouting{AppLabel: "env"}, []string{`app and env labels are both "env"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewAlertRouter(tt.routing)
			if err == nil {
				t.Fatalf("got %+v, want an error", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRouteCutsNamesAndText (H10): an alert's name, fingerprint and summary
// go on into logs, commit trailers, the rejections file and notifications,
// so they are cut where they come in; app and env are kept whole.
func TestRouteCutsNamesAndText(t *testing.T) {
	r, err := NewAlertRouter(AlertRouting{})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("x", 300_000)
	events, _ := r.Route(template.Data{Alerts: template.Alerts{{Status: StatusFiring, Fingerprint: huge,
		Labels: template.KV{"alertname": huge, "app": "checkout", "env": "prod"}, Annotations: template.KV{"summary": huge}}}})
	if len(events) != 1 {
		t.Fatalf("events %v", events)
	}
	ev := events[0]
	if n := utf8.RuneCountInString(ev.AlertName); n > maxAlertName {
		t.Errorf("alert name of %d characters", n)
	}
	if n := utf8.RuneCountInString(ev.Fingerprint); n > maxAlertName {
		t.Errorf("fingerprint of %d characters", n)
	}
	if n := utf8.RuneCountInString(ev.Summary); n > maxAlertSummary {
		t.Errorf("summary of %d characters", n)
	}
	if ev.App != "checkout" || ev.Env != "prod" {
		t.Errorf("app %q env %q", ev.App, ev.Env)
	}
}
