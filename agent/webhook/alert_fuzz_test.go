package webhook

import "testing"

// FuzzParseAlertmanager: never panics; an accepted payload has at most
// MaxAlerts alerts, each firing or resolved, and routes every alert exactly
// once, to an event naming an app, an env and a fingerprint, or to a reason.
func FuzzParseAlertmanager(f *testing.F) {
	addSamples(f, "alertmanager-*.json")
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"app":"a","env":"e"}}]}`))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[{"status":"resolved","labels":{"app":"","env":"e"},"startsAt":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"startsAt":1}]}`))
	f.Add([]byte("{\n\"version\": 4\n}"))
	router, err := NewAlertRouter(AlertRouting{Match: []string{`severity=~"crit.*"`}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, err := ParseAlertmanager(body)
		if err != nil {
			return
		}
		if len(data.Alerts) > MaxAlerts {
			t.Fatalf("accepted %d alerts", len(data.Alerts))
		}
		for i, a := range data.Alerts {
			if a.Status != StatusFiring && a.Status != StatusResolved {
				t.Fatalf("alerts[%d] accepted with status %q", i, a.Status)
			}
		}
		events, ignored := router.Route(data)
		if len(events)+len(ignored) != len(data.Alerts) {
			t.Fatalf("%d alerts routed to %d events and %d ignored", len(data.Alerts), len(events), len(ignored))
		}
		for _, ev := range events {
			if ev.App == "" || ev.Env == "" || ev.Fingerprint == "" {
				t.Fatalf("incomplete event %+v", ev)
			}
		}
		for _, ig := range ignored {
			if ig.Reason == "" || ig.Fingerprint == "" {
				t.Fatalf("ignored without a reason or fingerprint: %+v", ig)
			}
		}
	})
}
