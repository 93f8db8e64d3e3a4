// Package status is the read model of where each app stands in each
// environment, from Git alone (and, when asked, a running agent's live
// measurements): the version, a delivery in progress, the newest verdict.
package status

import (
	"context"
	"fmt"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/verify"
	"github.com/ferry-dev/ferry/analysis"
)

// EnvStatus is where one app stands in one environment, from Git alone:
// the version, a delivery in progress, and the newest verdict.
type EnvStatus struct {
	App      string           `json:"app"`
	Env      string           `json:"env"`
	Version  ledger.Version   `json:"version"`
	Delivery *Delivery        `json:"delivery,omitempty"`
	Verdict  *Verdict         `json:"verdict,omitempty"`
	Analysis string           `json:"analysis,omitempty"` // the template the env or its canary runs
	Live     *verify.Progress `json:"live,omitempty"`     // the running agent's measurements, when asked
	Error    string           `json:"error,omitempty"`
}

// Verdict is the newest verdict on what an environment runs.
type Verdict struct {
	Verdict  analysis.Verdict `json:"verdict"`
	Template string           `json:"template,omitempty"`
	Commit   string           `json:"commit"`
	Reason   string           `json:"reason,omitempty"`
}

func verdictOf(v ledger.Verdict, commit string) *Verdict {
	return &Verdict{Verdict: analysis.Verdict(v.Verdict), Template: v.Analysis, Commit: commit, Reason: v.Reason}
}

// Delivery is a progressive delivery in progress.
type Delivery struct {
	Strategy string         `json:"strategy"`
	Version  ledger.Version `json:"version"`
	Step     string         `json:"step"` // "2/4"
	Label    string         `json:"label"`
	Weight   int            `json:"weight"` // percent of traffic on the canary
}

// Read is every app's state in every environment of order at st; live
// are the running agent's measurements (nil: none).
func Read(ctx context.Context, log state.Log, st *state.State, cfg *config.Pipeline, order []*config.Environment, live []verify.Progress) ([]EnvStatus, error) {
	byEnv := map[string]verify.Progress{}
	for _, p := range live {
		byEnv[p.App+"\x00"+p.Env] = p
	}
	var out []EnvStatus
	for _, env := range order {
		for i := range cfg.Apps {
			app := &cfg.Apps[i]
			s := EnvStatus{App: app.Name, Env: env.Name, Analysis: env.Analysis}
			// A broken overlay is shown as such; the rest still reports.
			es := st.Envs[env.Name]
			if es.Err != nil {
				s.Error = es.Err.Error()
				out = append(out, s)
				continue
			}
			s.Version = es.Version(app)
			if env.Canary != nil {
				s.Analysis = env.Canary.Analysis
				cs, delivering, err := canary.InProgress(ctx, log, st, app, env)
				switch {
				case err != nil:
					s.Error = err.Error()
				case delivering:
					s.Delivery = &Delivery{Strategy: cs.Plan.Strategy, Version: cs.Canary, Weight: cs.Route.CanaryWeight}
					if cs.Step >= 0 {
						s.Delivery.Step, s.Delivery.Label = cs.StepLabel(), cs.Plan.Label(cs.Step)
						c, err := canary.StepCommit(ctx, log, st, app, env, cs)
						if err != nil {
							return nil, fmt.Errorf("status of %s in %s: %w", app.Name, env.Name, err)
						}
						if vd, ok := st.Note(c.Hash).For(app.Name, env.Name, cs.StepLabel(), ledger.Version{Tag: cs.Canary.Tag}); ok {
							s.Verdict = verdictOf(vd, c.Hash)
						}
					}
				}
			}
			// During a delivery the step's verdict is the one that matters.
			if s.Delivery == nil && !s.Version.IsZero() {
				vd, c, ok, err := state.Verdict(ctx, log, st, app, env, s.Version)
				if err != nil {
					return nil, fmt.Errorf("status of %s in %s: %w", app.Name, env.Name, err)
				}
				if ok {
					s.Verdict = verdictOf(vd, c.Hash)
				}
			}
			if p, ok := byEnv[app.Name+"\x00"+env.Name]; ok {
				s.Live = &p
			}
			out = append(out, s)
		}
	}
	return out, nil
}
