package agent

import (
	"context"
	"fmt"
)

// EnvStatus is where one app stands in one environment, from Git alone:
// the version, a delivery in progress, and the newest analysis verdict.
type EnvStatus struct {
	App      string    `json:"app"`
	Env      string    `json:"env"`
	Version  Version   `json:"version"`
	Delivery *Delivery `json:"delivery,omitempty"`
	Verdict  *Verdict  `json:"verdict,omitempty"`
	Analysis string    `json:"analysis,omitempty"` // the template the env or its canary runs
	Live     *Progress `json:"live,omitempty"`     // the running agent's measurements, when asked
	Error    string    `json:"error,omitempty"`
}

// Delivery is a progressive delivery in progress.
type Delivery struct {
	Strategy string  `json:"strategy"`
	Version  Version `json:"version"`
	Step     string  `json:"step"` // "2/4"
	Label    string  `json:"label"`
	Weight   int     `json:"weight"` // percent of traffic on the canary
}

// Status reads every app's state in every environment at the fleet repo's head.
func (a *Agent) Status(ctx context.Context) ([]EnvStatus, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.fetchState(ctx)
	if err != nil {
		return nil, err
	}
	live := map[string]Progress{}
	for _, p := range a.Progress() {
		live[boardKey(p.Verification)] = p
	}
	var out []EnvStatus
	for _, env := range a.order {
		for i := range a.cfg.Apps {
			app := &a.cfg.Apps[i]
			s := EnvStatus{App: app.Name, Env: env.Name, Analysis: env.Analysis}
			es := st.envs[env.Name]
			if es.err != nil {
				s.Error = es.err.Error()
				out = append(out, s)
				continue
			}
			s.Version = es.version(app)
			commit := ""
			if env.Canary != nil {
				s.Analysis = env.Canary.Analysis
				cs, err := a.readCanary(st, app, env)
				switch {
				case err != nil:
					s.Error = err.Error()
				case cs.active():
					s.Delivery = &Delivery{Strategy: cs.plan.strategy, Version: cs.canary, Weight: cs.route.CanaryWeight}
					if cs.step >= 0 {
						s.Delivery.Step, s.Delivery.Label = cs.stepLabel(), cs.plan.steps[cs.step].label
					}
					if commit, err = a.lastOverlayCommit(ctx, st, env); err != nil {
						return nil, err
					}
				}
			}
			if commit == "" && !s.Version.IsZero() {
				c, ok, err := a.runStart(ctx, st, app, env.Name, s.Version)
				if err != nil {
					return nil, fmt.Errorf("status of %s in %s: %w", app.Name, env.Name, err)
				}
				if ok {
					commit = c.Hash
				}
			}
			if commit != "" {
				if vd, ok := readVerdict(st.notes, commit); ok {
					s.Verdict = &vd
				}
			}
			if p, ok := live[app.Name+"\x00"+env.Name]; ok {
				s.Live = &p
			}
			out = append(out, s)
		}
	}
	return out, nil
}
