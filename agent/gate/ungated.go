package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/policies"
)

// Ungated is an environment no policy rule can stop, for some apps or
// every app.
type Ungated struct {
	Env string `json:"env"`
	// Apps are the apps nothing stops there; empty: every app.
	Apps   []string `json:"apps,omitempty"`
	Reason string   `json:"reason"`
}

// Ungated says which environments no policy rule can stop, per app: the
// policies allow both worst candidates ferry can picture there, one with
// no evidence at all and one with every piece of evidence the pipeline can
// gather bad (a fixable CRITICAL vulnerability where the app has Trivy, a
// failed quality gate where it has SonarQube, a failed analysis where the
// source verifies, no soak). Evidence the pipeline never gathers is left
// absent in both: a rule on it never fires. An environment renamed out of
// the default policies' reach (quality for qa, without tier:), or a
// policies/ directory that gates only some environments or apps, is then
// said at start-up and in `ferry plan`, not found out from a promotion.
// Judged: every environment with a source, and a first one whose tier is
// test, staging or production (a prod whose from: was forgotten). Mirrors
// take what their target runs and are gated there. The answer is worked
// out once per policy bundle for this gate.
func (g *Gate) Ungated(ctx context.Context, snap *fleet.Snapshot) ([]Ungated, error) {
	engine, err := g.Policies(ctx, snap)
	if err != nil {
		return nil, err
	}
	if out, ok := g.UngatedKnown(engine); ok {
		return out, nil
	}
	out := []Ungated{}
	cfg := g.opts.Config
	for i := range cfg.Environments {
		env := &cfg.Environments[i]
		if !judged(env) || len(cfg.Apps) == 0 {
			continue
		}
		if engine == nil {
			out = append(out, Ungated{Env: env.Name, Reason: fmt.Sprintf("environment %s: the fleet repo has no policies (%s), so nothing stops a promotion into it", env.Name, cfg.Policies)})
			continue
		}
		var open []string
		for j := range cfg.Apps {
			gated, err := g.gated(ctx, engine, &cfg.Apps[j], env)
			if err != nil {
				return nil, err
			}
			if !gated {
				open = append(open, cfg.Apps[j].Name)
			}
		}
		if len(open) == 0 {
			continue
		}
		hint := "add a rule for it in " + cfg.Policies
		if config.TierFor(*env) == "" {
			hint = "give it a tier (test, staging or production) in ferry.yaml for the default policies, or " + hint
		}
		u := Ungated{Env: env.Name}
		what := "any candidate"
		if len(open) < len(cfg.Apps) {
			u.Apps = open
			what = "a candidate of " + listApps(open)
		}
		u.Reason = fmt.Sprintf("environment %s: no policy rule denies %s there, not even one without evidence or with every piece of evidence bad (a fixable CRITICAL vulnerability, a failed quality gate, a failed analysis, no soak): %s", env.Name, what, hint)
		out = append(out, u)
	}
	key := "none"
	if engine != nil {
		key = engine.Hash()
	}
	g.mu.Lock()
	if len(g.ungated) >= maxEngines {
		clear(g.ungated) // as the engine cache: one entry per policy version
	}
	g.ungated[key] = out
	g.mu.Unlock()
	return out, nil
}

// UngatedKnown returns Ungated's answer for engine's bundle if it was
// worked out already: a pass need not wait for it.
func (g *Gate) UngatedKnown(engine *policies.Engine) ([]Ungated, bool) {
	key := "none"
	if engine != nil {
		key = engine.Hash()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out, ok := g.ungated[key]
	return out, ok
}

// judged says whether Ungated looks at env: mirrors never, first
// environments only with a gating tier.
func judged(env *config.Environment) bool {
	if env.Mirror != "" {
		return false
	}
	if env.From != "" {
		return true
	}
	switch config.TierFor(*env) {
	case config.TierTest, config.TierStaging, config.TierProduction:
		return true
	}
	return false
}

// gated reports whether some rule denies one of app's worst candidates in
// env. A decision that fails is a denial (fail closed).
func (g *Gate) gated(ctx context.Context, engine *policies.Engine, app *config.App, env *config.Environment) (bool, error) {
	for _, input := range g.worstCases(app, env) {
		d, err := engine.Decide(ctx, input)
		if err != nil && ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil || len(d.Deny) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// listApps names at most 5 apps, then how many more.
func listApps(apps []string) string {
	if len(apps) <= 5 {
		return strings.Join(apps, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(apps[:5], ", "), len(apps)-5)
}

// worstCases are the two inputs an environment's gate must be able to
// deny for app: every piece of evidence absent, and every piece the
// pipeline can gather bad.
func (g *Gate) worstCases(app *config.App, env *config.Environment) []map[string]any {
	environment := envInput(g.opts.Config, env)
	input := func(evidence map[string]any) map[string]any {
		return map[string]any{
			"app":         map[string]any{"name": app.Name, "image": app.Image},
			"environment": environment,
			"candidate":   map[string]any{"version": "0.0.0-worst-case", "tag": "0.0.0-worst-case", "digest": "sha256:" + zeros},
			"evidence":    evidence,
			"time":        g.opts.Now().UTC().Format(time.RFC3339),
		}
	}
	severities := func(n int) map[string]any {
		return map[string]any{"CRITICAL": n, "HIGH": n, "MEDIUM": n, "LOW": n, "UNKNOWN": n}
	}
	bad := map[string]any{}
	if app.Evidence.Trivy != nil {
		scan := func() map[string]any {
			return map[string]any{"summary": severities(1), "fixable": severities(1), "findings": []any{
				map[string]any{"id": "CVE-0000-0000", "package": "worst-case", "severity": "CRITICAL", "installed": "1.0.0", "fixed": "1.0.1"},
			}}
		}
		trivyDoc := scan()
		trivyDoc[KindImage] = scan()
		// Only referrers carry a file-system scan.
		if app.Evidence.Trivy.From == "" || app.Evidence.Trivy.From == config.TrivyFromReferrers {
			trivyDoc[KindFS] = scan()
		}
		bad["trivy"] = trivyDoc
	}
	if app.Evidence.Sonar != nil {
		bad["sonar"] = map[string]any{"status": "ERROR", "conditions": []any{map[string]any{"metric": "new_coverage", "status": "ERROR", "actual": "0", "threshold": "80"}}}
	}
	if src := sourceOf(env); src != "" {
		if from, ok := g.opts.Config.Env(src); ok && state.Verifies(from) {
			bad["analysis"] = map[string]any{src: map[string]any{"verdict": "Failed"}}
		}
		bad["soak"] = map[string]any{"env": src, "seconds": 0}
	}
	return []map[string]any{input(map[string]any{}), input(bad)}
}

var zeros = fmt.Sprintf("%064d", 0)
