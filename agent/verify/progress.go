package verify

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/analysis"
)

// maxMeasurements bounds the measurements kept per analysis for display,
// so a long run cannot grow memory; the log keeps every measurement.
const maxMeasurements = 120

// Progress is the live state of the newest analysis of one app in one
// environment, for `ferry status` and the dashboard.
type Progress struct {
	Verification
	Started      time.Time              `json:"started"`
	Finished     time.Time              `json:"finished,omitzero"`
	Verdict      analysis.Verdict       `json:"verdict"`
	Reason       string                 `json:"reason,omitempty"`
	Measurements []analysis.Measurement `json:"measurements,omitempty"`
}

// Board keeps one Progress per (app, env): bounded by the pipeline.
type Board struct {
	mu   sync.Mutex
	runs map[string]*Progress
}

// boardKey has no commit: a newer verification replaces the older one, so
// the board stays bounded by apps x environments.
func boardKey(v Verification) string { return v.App + "\x00" + v.Env }

func (b *Board) start(v Verification, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runs == nil {
		b.runs = map[string]*Progress{}
	}
	b.runs[boardKey(v)] = &Progress{Verification: v, Started: at, Verdict: analysis.Running}
}

func (b *Board) observe(v Verification, m analysis.Measurement) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A superseded run still measuring must not draw on its successor.
	p, ok := b.runs[boardKey(v)]
	if !ok || p.Commit != v.Commit {
		return
	}
	p.Measurements = append(p.Measurements, m)
	if len(p.Measurements) > maxMeasurements {
		p.Measurements = slices.Delete(p.Measurements, 0, len(p.Measurements)-maxMeasurements)
	}
}

func (b *Board) finish(v Verification, res analysis.Result) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.runs[boardKey(v)]
	if !ok || p.Commit != v.Commit {
		if b.runs == nil {
			b.runs = map[string]*Progress{}
		}
		p = &Progress{Verification: v, Started: res.Started}
		b.runs[boardKey(v)] = p
	}
	p.Finished, p.Verdict, p.Reason = time.Now(), res.Verdict, res.Reason
}

// Progress returns the newest analysis of every app and environment that
// had one since the agent started, by app then environment.
func (b *Board) Progress() []Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Progress, 0, len(b.runs))
	for _, p := range b.runs {
		c := *p
		c.Measurements = slices.Clone(p.Measurements)
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Progress) int { return cmp.Or(cmp.Compare(x.App, y.App), cmp.Compare(x.Env, y.Env)) })
	return out
}
