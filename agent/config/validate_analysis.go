package config

import (
	"errors"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"text/template"

	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/internal/dnslabel"
	"github.com/ferry-dev/ferry/internal/text"
)

// providerNames are the metric providers this pipeline configures.
func (p *Pipeline) providerNames() []string {
	var out []string
	if p.Providers.Prometheus != nil {
		out = append(out, "prometheus")
	}
	return out
}

// validateAnalyses compiles every template (conditions, queries, provider
// names) and checks what environments refer to.
func (p *Pipeline) validateAnalyses(ps *problems) {
	providers := p.providerNames()
	// Sorted: map order would shuffle the errors between runs.
	for _, name := range slices.Sorted(maps.Keys(p.Analyses)) {
		base := mapKeyPath("analyses", name)
		if msg := dnslabel.Check(name); msg != "" {
			ps.add(base, "name %s", msg)
		}
		_, err := analysis.Compile(p.Analyses[name].Template(name), providers)
		for _, e := range flatten(err) {
			// A FieldError knows its field: point at it, not at the template.
			var fe *analysis.FieldError
			if errors.As(e, &fe) {
				ps.add(joinPath(base, fe.Path), "%v", fe.Err)
			} else {
				ps.add(base, "%v", e)
			}
		}
	}
	for i, e := range p.Environments {
		base := indexPath("environments", i)
		if e.Analysis != "" {
			p.checkAnalysisName(ps, joinPath(base, "analysis"), e.Analysis)
		}
		if e.Canary != nil {
			p.validateCanary(ps, joinPath(base, "canary"), e.Canary)
		}
		if e.Verify != nil && e.Verify.Readiness != "" {
			at := joinPath(joinPath(base, "verify"), "readiness")
			if err := analysis.CheckQuery(e.Verify.Readiness); err != nil {
				ps.add(at, "%v", err)
			}
			if len(providers) == 0 {
				ps.add(at, "needs providers.prometheus.address")
			}
		}
	}
}

func (p *Pipeline) checkAnalysisName(ps *problems, at, name string) {
	if _, ok := p.Analyses[name]; !ok {
		known := slices.Sorted(maps.Keys(p.Analyses))
		for i := range known {
			known[i] = text.Truncate(known[i], 40)
		}
		if len(known) == 0 {
			ps.add(at, "unknown analysis %s: analyses: defines none", quote(name))
			return
		}
		ps.add(at, "unknown analysis %s (known: %s)", quote(name), strings.Join(known, ", "))
	}
}

func (p *Pipeline) validateCanary(ps *problems, base string, c *Canary) {
	strategy := c.Strategy
	if strategy == "" {
		strategy = StrategyCanary
	}
	if !slices.Contains(Strategies, strategy) {
		ps.add(joinPath(base, "strategy"), "unknown strategy %s (known: %s)", quote(c.Strategy), strings.Join(Strategies, ", "))
	}
	if c.Analysis == "" {
		ps.add(joinPath(base, "analysis"), "required: the analyses: template each step must pass")
	} else {
		p.checkAnalysisName(ps, joinPath(base, "analysis"), c.Analysis)
	}
	switch {
	case strategy == StrategyCanary && len(c.Steps) == 0:
		ps.add(joinPath(base, "steps"), "required for the canary strategy, e.g. [5, 25, 50, 100]")
	case strategy != StrategyCanary && len(c.Steps) > 0:
		ps.add(joinPath(base, "steps"), "only the canary strategy has weighted steps")
	}
	// Weights rise strictly: a step that lowers or repeats a weight
	// measures nothing new, and 0 would analyse a canary without traffic.
	for i, w := range c.Steps {
		at := indexPath(joinPath(base, "steps"), i)
		switch {
		case w < 1 || w > 100:
			ps.add(at, "weight %d must be between 1 and 100 percent", w)
		case i > 0 && w <= c.Steps[i-1]:
			ps.add(at, "weight %d must be greater than the step before (%d)", w, c.Steps[i-1])
		}
	}
	if strategy == StrategyABTest {
		if c.Header == nil || c.Header.Name == "" {
			ps.add(joinPath(base, "header"), "required for abTest: the header whose requests go to the canary, e.g. {name: x-canary, value: \"true\"}")
		}
	} else if c.Header != nil {
		ps.add(joinPath(base, "header"), "only the abTest strategy matches a header")
	}
	for _, f := range []struct{ field, value string }{
		{"route.file", c.Route.File}, {"route.name", c.Route.Name}, {"route.stable", c.Route.Stable},
		{"route.canary", c.Route.Canary}, {"image", c.Image},
	} {
		if f.value == "" {
			continue
		}
		t, err := template.New(f.field).Option("missingkey=error").Parse(f.value)
		if err != nil {
			ps.add(joinPath(base, f.field), "template: %v", err)
			continue
		}
		// Executed here with the fields it will get: a misspelt one
		// ({{.Imag}}) would otherwise name no entry, and the default
		// "-canary" entry would be delivered instead.
		vars := map[string]string{"App": "app"}
		if f.field == "image" {
			vars["Image"] = "registry.example/app"
		}
		if err := t.Execute(io.Discard, vars); err != nil {
			ps.add(joinPath(base, f.field), "template: %v (fields: %s)", err, strings.Join(slices.Sorted(maps.Keys(vars)), ", "))
		}
	}
	// Outside the overlay, one environment's delivery could edit a file
	// that another environment applies.
	if f := c.Route.File; f != "" && (path.IsAbs(f) || strings.HasPrefix(path.Clean(f), "..")) {
		ps.add(joinPath(base, "route.file"), "%s must be a file inside the overlay", quote(f))
	}
}

// flatten undoes errors.Join, so each error gets its own position.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
