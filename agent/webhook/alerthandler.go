package webhook

import (
	"context"
	"encoding/json"
	"net/http"
)

// alertSummary is the 200 answer to Alertmanager, for people reading
// logs of its notifications and for tests.
type alertSummary struct {
	Accepted   int       `json:"accepted"`
	Duplicates int       `json:"duplicates"`
	Ignored    []Ignored `json:"ignored"`
}

// alertmanager serves POST /hooks/alertmanager: size limit (413), auth
// (401), parse (400), then route and dedupe; only the new alerts that map
// to an app and env reach onAlerts.
func (h *Handler) alertmanager(w http.ResponseWriter, r *http.Request) {
	body, ok := h.accept(w, r, false)
	if !ok {
		return
	}
	p, err := parseAlertmanager(body)
	if err != nil {
		h.reject(w, r, http.StatusBadRequest, err)
		return
	}
	if p.TruncatedAlerts > 0 {
		h.log.Warn("Alertmanager left alerts out of a notification; raise max_alerts on its webhook receiver",
			"group", p.GroupKey, "truncated", p.TruncatedAlerts)
	}
	events, ignored := h.router.Load().Route(p.Data)
	sum := alertSummary{Ignored: ignored}
	if sum.Ignored == nil {
		sum.Ignored = []Ignored{}
	}
	for _, ig := range ignored {
		h.log.Info("alert ignored", "alertname", ig.AlertName, "fingerprint", ig.Fingerprint, "reason", ig.Reason)
	}
	fresh := events[:0]
	for _, ev := range events {
		if h.dedupe.Seen(ev) {
			sum.Duplicates++
			h.log.Debug("alert already handed on", "alertname", ev.AlertName, "fingerprint", ev.Fingerprint, "status", ev.Status)
			continue
		}
		h.log.Info("alert accepted", "alertname", clip(ev.AlertName), "app", clip(ev.App), "env", clip(ev.Env), "status", ev.Status, "fingerprint", clip(ev.Fingerprint))
		fresh = append(fresh, ev)
	}
	sum.Accepted = len(fresh)
	if len(fresh) > 0 {
		h.onAlerts(context.WithoutCancel(r.Context()), fresh)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(sum) // the callback ran; a write error only concerns the caller
}
