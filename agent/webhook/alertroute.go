package webhook

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/ferry-dev/ferry/internal/text"
)

// Default alert labels naming the app and the environment.
const (
	DefaultAppLabel = "app"
	DefaultEnvLabel = "env"
)

// AlertRouting says how alerts map to an app and environment, and which
// of them count.
type AlertRouting struct {
	AppLabel string // DefaultAppLabel when empty
	EnvLabel string // DefaultEnvLabel when empty
	// Match lists Alertmanager matchers (severity="critical",
	// severity=critical, team!=infra, severity=~"critical|page"); an alert
	// must satisfy all of them. Empty: every alert that maps to an app and env.
	Match []string
}

// AlertRouter maps alerts to (app, env) events; build it with
// NewAlertRouter. It is read-only and safe for concurrent use.
type AlertRouter struct {
	appLabel, envLabel string
	matchers           []*labels.Matcher
}

// Ignored is an alert that maps to nothing, and why.
type Ignored struct {
	Fingerprint string `json:"fingerprint"`
	AlertName   string `json:"alertname"`
	Reason      string `json:"reason"`
}

// NewAlertRouter checks r: the matchers must parse (Alertmanager's own
// syntax, via pkg/labels) and the app and env labels must differ.
func NewAlertRouter(r AlertRouting) (*AlertRouter, error) {
	ar := &AlertRouter{appLabel: strings.TrimSpace(r.AppLabel), envLabel: strings.TrimSpace(r.EnvLabel)}
	if ar.appLabel == "" {
		ar.appLabel = DefaultAppLabel
	}
	if ar.envLabel == "" {
		ar.envLabel = DefaultEnvLabel
	}
	var errs []error
	if ar.appLabel == ar.envLabel {
		errs = append(errs, fmt.Errorf("alert routing: app and env labels are both %q", ar.appLabel))
	}
	for i, s := range r.Match {
		m, err := labels.ParseMatcher(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("alert routing: match[%d] %q: %w", i, s, err))
			continue
		}
		ar.matchers = append(ar.matchers, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return ar, nil
}

// Route maps each alert of data to an event, in order, or says why it was
// ignored. Resolved alerts are routed like firing ones (they lift freezes),
// and the matchers apply to both.
func (r *AlertRouter) Route(data template.Data) (events []AlertEvent, ignored []Ignored) {
	for _, a := range data.Alerts {
		fp := fingerprint(a)
		name := a.Labels["alertname"]
		if reason := r.reject(a); reason != "" {
			ignored = append(ignored, Ignored{Fingerprint: fp, AlertName: name, Reason: reason})
			continue
		}
		summary := a.Annotations["summary"]
		if summary == "" {
			summary = a.Annotations["description"]
		}
		// Names and text are cut here, once: they go on into logs, commit
		// trailers, .ferry/rejected.yaml and notifications (a 300 KB
		// annotation reached all four). App and env stay whole: they must
		// match ferry.yaml's names exactly or not at all.
		events = append(events, AlertEvent{
			App:          a.Labels[r.appLabel],
			Env:          a.Labels[r.envLabel],
			Status:       a.Status,
			AlertName:    text.Truncate(name, maxAlertName),
			Fingerprint:  text.Truncate(fp, maxAlertName),
			Summary:      text.Truncate(summary, maxAlertSummary),
			Labels:       maps.Clone(map[string]string(a.Labels)),
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
		})
	}
	return events, ignored
}

// Bounds on what an alert carries on (in characters).
const (
	maxAlertName    = 128
	maxAlertSummary = 1000
)

// reject is why a is ignored, or "" when it is routed.
func (r *AlertRouter) reject(a template.Alert) string {
	if a.Status != StatusFiring && a.Status != StatusResolved {
		return fmt.Sprintf("status %q is neither %s nor %s", a.Status, StatusFiring, StatusResolved)
	}
	for _, l := range []string{r.appLabel, r.envLabel} {
		if a.Labels[l] == "" {
			return fmt.Sprintf("no %q label", l)
		}
	}
	for _, m := range r.matchers {
		// As in Alertmanager, a missing label matches as the empty string.
		if !m.Matches(a.Labels[m.Name]) {
			return "does not match " + m.String()
		}
	}
	return ""
}

// fingerprint is the one Alertmanager sent, or, for a hand-written payload
// without one, what Alertmanager would have sent: the hash of the labels.
func fingerprint(a template.Alert) string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}
