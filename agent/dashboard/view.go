package dashboard

import (
	"context"
	"errors"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/analysis"
)

// funcs are the templates' helpers; none returns unescaped HTML.
var funcs = template.FuncMap{
	"short": func(h string) string {
		if len(h) > 12 {
			return h[:12]
		}
		return h
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"digest": func(d string) string {
		_, hex, _ := strings.Cut(d, ":")
		if len(hex) > 12 {
			hex = hex[:12]
		}
		return hex
	},
	"lower":   strings.ToLower,
	"pathseg": url.PathEscape,
	"join":    strings.Join,
}

type homeView struct {
	Title    string
	Now      time.Time
	Pass     *Pass
	Envs     []string
	Rows     []matrixRow
	Pending  []Pending
	PRs      []PullRequest
	Analyses []analysisView
	Recent   []eventView
	Note     string // why there is no history yet
}

type matrixRow struct {
	App   string
	Image string
	Cells []Cell
}

type analysisView struct {
	Analysis
	Charts []Chart
}

type eventView struct {
	Event
	Verdict analysis.Verdict
	Why     string
}

type appView struct {
	Title    string
	Now      time.Time
	App      string
	Image    string
	Env      string // the filter, "" for every environment
	Envs     []string
	Cells    []Cell
	Analyses []analysisView
	Events   []eventView
	Limit    int
	Note     string
}

func (h *Handler) homeView(ctx context.Context, p *config.Pipeline, st []Cell) homeView {
	// Columns in promotion order (sources first), not file order.
	v := homeView{Title: "ferry", Now: h.opt.Now().UTC(), Envs: p.Order()}
	byKey := map[string]Cell{}
	for _, s := range st {
		byKey[s.App+"\x00"+s.Env] = s
	}
	for _, app := range p.Apps {
		row := matrixRow{App: app.Name, Image: app.Image}
		for _, env := range v.Envs {
			// Every cell exists, status or not: the matrix stays rectangular.
			s, ok := byKey[app.Name+"\x00"+env]
			if !ok {
				s = Cell{App: app.Name, Env: env}
			}
			row.Cells = append(row.Cells, s)
		}
		v.Rows = append(v.Rows, row)
	}
	if pass := h.src.LastPass(); pass != nil {
		v.Pass, v.Pending, v.PRs = pass, pass.Pending, pass.PullRequests
	}
	v.Analyses = analyses(p, h.src.Progress(), "")
	// The history is extra: the matrix renders even when it cannot be read.
	events, err := h.src.Timeline(ctx, "", "", h.opt.RecentLimit)
	switch {
	case errors.Is(err, ErrStarting):
		v.Note = "The history appears after the first pass."
	case err != nil:
		h.opt.Log.Error("dashboard: timeline", "err", err)
		v.Note = "The history could not be read: " + err.Error()
	}
	v.Recent = withVerdicts(events, st, h.src.Progress())
	return v
}

func (h *Handler) appView(p *config.Pipeline, st []Cell, app, env string, events []Event) appView {
	a, _ := p.App(app)
	v := appView{Title: app + " · ferry", Now: h.opt.Now().UTC(), App: app, Image: a.Image, Env: env, Envs: p.Order(), Limit: h.opt.HistoryLimit}
	for _, s := range st {
		if s.App == app && (env == "" || s.Env == env) {
			v.Cells = append(v.Cells, s)
		}
	}
	progress := h.src.Progress()
	var mine []Analysis
	for _, pr := range progress {
		if pr.Env == env || env == "" {
			mine = append(mine, pr)
		}
	}
	v.Analyses = analyses(p, mine, app)
	v.Events = withVerdicts(events, st, progress)
	if events == nil {
		v.Note = "No events yet: the history appears after the first pass."
	}
	return v
}

// analyses draws the live analyses of app ("" for all), one chart per metric.
func analyses(p *config.Pipeline, progress []Analysis, app string) []analysisView {
	var out []analysisView
	for _, pr := range progress {
		if app != "" && pr.App != app {
			continue
		}
		av := analysisView{Analysis: pr}
		// Charts in the order the metrics were first measured: map order
		// would shuffle them on every reload.
		var order []string
		byMetric := map[string][]analysis.Measurement{}
		for _, m := range pr.Measurements {
			if _, ok := byMetric[m.Metric]; !ok {
				order = append(order, m.Metric)
			}
			byMetric[m.Metric] = append(byMetric[m.Metric], m)
		}
		for _, name := range order {
			av.Charts = append(av.Charts, NewChart(name, condition(p, pr.Template, name), byMetric[name]))
		}
		out = append(out, av)
	}
	return out
}

// condition is the metric's success condition, else its failure condition:
// the line the chart draws.
func condition(p *config.Pipeline, template, metric string) string {
	t, ok := p.Analyses[template]
	if !ok {
		return ""
	}
	for _, m := range t.Metrics {
		if m.Name == metric {
			if m.SuccessCondition != "" {
				return m.SuccessCondition
			}
			return m.FailureCondition
		}
	}
	return ""
}

// withVerdicts marks each event with the analysis verdict of its commit,
// from the notes Status read and the analyses this agent ran.
func withVerdicts(events []Event, st []Cell, progress []Analysis) []eventView {
	type known struct {
		v   analysis.Verdict
		why string
	}
	byCommit := map[string]known{}
	for _, s := range st {
		if s.Verdict != nil && s.Verdict.Commit != "" {
			byCommit[s.Verdict.Commit] = known{s.Verdict.Verdict, s.Verdict.Reason}
		}
	}
	// This agent's own runs go last and win: they may be newer than the
	// notes the last pass read.
	for _, p := range progress {
		if p.Commit != "" {
			byCommit[p.Commit] = known{p.Verdict, p.Reason}
		}
	}
	out := make([]eventView, len(events))
	for i, e := range events {
		k := byCommit[e.Commit]
		out[i] = eventView{Event: e, Verdict: k.v, Why: k.why}
	}
	return out
}
