package gate

import (
	"context"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
)

// Ungated says which environments no policy rule can stop: for every app,
// the policies allow both worst candidates ferry can picture there, one
// with no evidence at all and one with every piece of evidence bad (a
// fixable CRITICAL vulnerability, a failed quality gate, a failed analysis
// in its source, no soak). An environment renamed out of the default
// policies' reach (quality for qa, without tier:), or a policies/
// directory that gates only some environments, is then said at start-up
// and in `ferry plan`, not found out from a promotion. First environments
// take what the registry has and mirrors what their target runs (gated
// there), so only the others are judged. The answer is worked out once per
// policy bundle for this gate, so a pass pays for it only after a change.
func (g *Gate) Ungated(ctx context.Context, snap *fleet.Snapshot) ([]string, error) {
	engine, err := g.Policies(ctx, snap)
	if err != nil {
		return nil, err
	}
	key := "none"
	if engine != nil {
		key = engine.Hash()
	}
	g.mu.Lock()
	out, ok := g.ungated[key]
	g.mu.Unlock()
	if ok {
		return out, nil
	}
	out = []string{}
	cfg := g.opts.Config
	for i := range cfg.Environments {
		env := &cfg.Environments[i]
		if env.Mirror != "" || env.From == "" || len(cfg.Apps) == 0 {
			continue
		}
		if engine == nil {
			out = append(out, fmt.Sprintf("environment %s: the fleet repo has no policies (%s), so nothing stops a promotion into it", env.Name, cfg.Policies))
			continue
		}
		gated := false
		for j := 0; j < len(cfg.Apps) && !gated; j++ {
			for _, input := range g.worstCases(&cfg.Apps[j], env) {
				d, err := engine.Decide(ctx, input)
				if err != nil && ctx.Err() != nil {
					return nil, ctx.Err()
				}
				// A decision that fails is a denial (fail closed).
				if err != nil || len(d.Deny) > 0 {
					gated = true
					break
				}
			}
		}
		if !gated {
			hint := "add a rule for it in " + cfg.Policies
			if config.TierFor(*env) == "" {
				hint = "give it a tier (test, staging or production) in ferry.yaml for the default policies, or " + hint
			}
			out = append(out, fmt.Sprintf("environment %s: no policy rule denies any candidate there, not even one without evidence or with a CRITICAL vulnerability, a failed quality gate and a failed analysis: %s", env.Name, hint))
		}
	}
	g.mu.Lock()
	if len(g.ungated) >= maxEngines {
		clear(g.ungated) // as the engine cache: one entry per policy version
	}
	g.ungated[key] = out
	g.mu.Unlock()
	return out, nil
}

// worstCases are the two inputs an environment's gate must be able to
// deny: every piece of evidence absent, and every piece bad.
func (g *Gate) worstCases(app *config.App, env *config.Environment) []map[string]any {
	input := func(evidence map[string]any) map[string]any {
		return map[string]any{
			"app":         map[string]any{"name": app.Name, "image": app.Image},
			"environment": envInput(g.opts.Config, env),
			"candidate":   map[string]any{"version": "0.0.0-worst-case", "tag": "0.0.0-worst-case", "digest": "sha256:" + zeros},
			"evidence":    evidence,
			"time":        g.opts.Now().UTC().Format(time.RFC3339),
		}
	}
	severities := func(n int) map[string]any {
		return map[string]any{"CRITICAL": n, "HIGH": n, "MEDIUM": n, "LOW": n, "UNKNOWN": n}
	}
	src := sourceOf(env)
	bad := map[string]any{
		"trivy": map[string]any{"summary": severities(1), "fixable": severities(1), "findings": []any{
			map[string]any{"id": "CVE-0000-0000", "package": "worst-case", "severity": "CRITICAL", "installed": "1.0.0", "fixed": "1.0.1"},
		}},
		"sonar":    map[string]any{"status": "ERROR", "conditions": []any{map[string]any{"metric": "new_coverage", "status": "ERROR", "actual": "0", "threshold": "80"}}},
		"analysis": map[string]any{src: map[string]any{"verdict": "Failed"}},
		"soak":     map[string]any{"env": src, "seconds": 0},
	}
	return []map[string]any{input(map[string]any{}), input(bad)}
}

var zeros = fmt.Sprintf("%064d", 0)
