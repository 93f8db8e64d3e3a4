package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/ferry-dev/ferry/internal/jsonpos"
)

// MaxAlerts caps the alerts of one Alertmanager notification. Alertmanager
// sends every alert of a group unless max_alerts is set; more than this is
// refused rather than half handled.
const MaxAlerts = 1000

// Alert statuses of the webhook payload.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// AlertEvent is one alert of a notification, mapped to an app and
// environment by AlertRouter.
type AlertEvent struct {
	App, Env     string
	Status       string // StatusFiring or StatusResolved
	AlertName    string
	Fingerprint  string
	Summary      string // the summary annotation, else the description
	Labels       map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// amPayload is the webhook payload (version 4): template.Data plus the
// fields Alertmanager adds around it in notify/webhook.
type amPayload struct {
	template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// ParseAlertmanager reads an Alertmanager webhook payload. The version must
// be "4", every alert firing or resolved, and there may be at most
// MaxAlerts of them; JSON errors say the line and column.
func ParseAlertmanager(body []byte) (template.Data, error) {
	p, err := parseAlertmanager(body)
	return p.Data, err
}

func parseAlertmanager(body []byte) (amPayload, error) {
	var p amPayload
	if err := decodeLocated(body, &p); err != nil {
		return amPayload{}, fmt.Errorf("alertmanager webhook: %w", err)
	}
	if err := p.validate(); err != nil {
		return amPayload{}, fmt.Errorf("alertmanager webhook: %w", err)
	}
	return p, nil
}

func (p *amPayload) validate() error {
	switch {
	case p.Version == "":
		return errors.New(`no "version", want "4"`)
	case p.Version != "4":
		return fmt.Errorf(`version %q, want "4"`, p.Version)
	case p.Status != StatusFiring && p.Status != StatusResolved:
		return fmt.Errorf(`status %q, want %q or %q`, p.Status, StatusFiring, StatusResolved)
	case len(p.Alerts) > MaxAlerts:
		// Alertmanager's webhook_configs max_alerts keeps it under this.
		return fmt.Errorf("%d alerts, more than %d (set max_alerts on the webhook receiver)", len(p.Alerts), MaxAlerts)
	}
	for i, a := range p.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return fmt.Errorf(`alerts[%d] (%s): status %q, want %q or %q`, i, a.Labels["alertname"], a.Status, StatusFiring, StatusResolved)
		}
	}
	return nil
}

// decodeLocated is decodeJSON with line:col in syntax and type errors, and
// the alert named when a timestamp does not parse.
func decodeLocated(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body, want JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if located := locateJSON(body, err); located != err {
			return located
		}
		if named := badTimestamp(body); named != nil {
			return fmt.Errorf("bad JSON: %w", named)
		}
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		line, col := jsonpos.Position(body, dec.InputOffset()+1)
		return fmt.Errorf("bad JSON: line %d, column %d: data after the JSON value", line, col)
	}
	return nil
}

// badTimestamp finds the alert and field whose time did not parse:
// encoding/json reports no offset for errors of a type's UnmarshalJSON.
func badTimestamp(body []byte) error {
	var p struct {
		Alerts []struct {
			StartsAt json.RawMessage `json:"startsAt"`
			EndsAt   json.RawMessage `json:"endsAt"`
		} `json:"alerts"`
	}
	if json.Unmarshal(body, &p) != nil {
		return nil
	}
	for i, a := range p.Alerts {
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"startsAt", a.StartsAt}, {"endsAt", a.EndsAt}} {
			var t time.Time
			if len(f.raw) == 0 {
				continue
			}
			if err := t.UnmarshalJSON(f.raw); err != nil {
				return fmt.Errorf("alerts[%d].%s: %s is not an RFC 3339 time", i, f.name, short(f.raw))
			}
		}
	}
	return nil
}
