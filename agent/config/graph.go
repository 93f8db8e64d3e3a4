package config

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ferry-dev/ferry/internal/text"
)

// Env returns the environment called name.
func (p *Pipeline) Env(name string) (*Environment, bool) {
	for i := range p.Environments {
		if p.Environments[i].Name == name {
			return &p.Environments[i], true
		}
	}
	return nil, false
}

// App returns the app called name.
func (p *Pipeline) App(name string) (*App, bool) {
	for i := range p.Apps {
		if p.Apps[i].Name == name {
			return &p.Apps[i], true
		}
	}
	return nil, false
}

// Order returns the environment names with every source (from, mirror)
// before the environments it feeds; peers keep their file order. On an
// invalid pipeline, environments caught in a cycle come last in file order.
func (p *Pipeline) Order() []string {
	envs := p.Environments
	sources := p.sourceIndexes()
	done := make([]bool, len(envs))
	order := make([]string, 0, len(envs))
	// Peers keep file order so plans and logs read as people wrote them.
	for progress := true; progress; {
		progress = false
		for i := range envs {
			if done[i] || slices.ContainsFunc(sources[i], func(s int) bool { return !done[s] }) {
				continue
			}
			done[i], progress = true, true
			order = append(order, envs[i].Name)
			break // restart: the earliest ready environment always goes next
		}
	}
	// Kept, not dropped: callers before validation (and its errors) still
	// see every environment.
	for i := range envs {
		if !done[i] {
			order = append(order, envs[i].Name)
		}
	}
	return order
}

// sourceIndexes lists, per environment, the indexes of the known
// environments it takes versions from, leaving out self-references:
// checkSources names those plainly instead of as a one-environment cycle.
func (p *Pipeline) sourceIndexes() [][]int {
	index := map[string]int{}
	for i, e := range p.Environments {
		if _, dup := index[e.Name]; !dup {
			index[e.Name] = i
		}
	}
	out := make([][]int, len(p.Environments))
	for i, e := range p.Environments {
		for _, s := range []string{e.From, e.Mirror} {
			if j, ok := index[s]; ok && s != "" && j != i && !slices.Contains(out[i], j) {
				out[i] = append(out[i], j)
			}
		}
	}
	return out
}

func (p *Pipeline) validateEnvironments(ps *problems) {
	names := map[string]int{}
	overlays := map[string]int{}
	for i, e := range p.Environments {
		base := indexPath("environments", i)
		checkName(ps, "environments", i, e.Name, names)
		if e.Tier != "" && !slices.Contains(Tiers, e.Tier) {
			ps.add(joinPath(base, "tier"), "%s is not one of %s", quote(e.Tier), strings.Join(Tiers, ", "))
		}
		clean, msg := checkOverlay(e.Overlay)
		if msg != "" {
			ps.add(joinPath(base, "overlay"), "%s", msg)
		} else if j, dup := overlays[clean]; dup {
			// Two environments writing one overlay: a promotion into one
			// would move the other past its own gate.
			ps.add(joinPath(base, "overlay"), "%s is also written by environments[%d] (%s)", quote(e.Overlay), j, text.Truncate(p.Environments[j].Name, 40))
		} else {
			overlays[clean] = i
		}
	}
	for i, e := range p.Environments {
		p.checkSources(ps, indexPath("environments", i), e, names)
	}
	for _, c := range p.cycles() {
		first := p.Environments[c[0]]
		field := "from"
		if first.From == "" {
			field = "mirror"
		}
		names := make([]string, 0, len(c)+1)
		for _, i := range c {
			names = append(names, text.Truncate(p.Environments[i].Name, 40))
		}
		names = append(names, text.Truncate(first.Name, 40))
		ps.add(joinPath(indexPath("environments", c[0]), field), "cycle %s", strings.Join(names, " -> "))
	}
}

// checkOverlay returns the cleaned overlay path, or why it is not usable:
// ferry writes there, so it must stay inside the fleet repo.
func checkOverlay(overlay string) (string, string) {
	if overlay == "" {
		return "", "required (a directory in the fleet repo, such as overlays/dev)"
	}
	if path.IsAbs(overlay) || filepath.IsAbs(overlay) || filepath.VolumeName(overlay) != "" || strings.HasPrefix(overlay, `\`) {
		return "", fmt.Sprintf("%q must be relative to the fleet repo root", overlay)
	}
	// Backslashes count as separators: a config written on Windows must
	// not escape through ..\ either.
	clean := path.Clean(strings.ReplaceAll(overlay, `\`, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Sprintf("%q escapes the fleet repo", overlay)
	}
	return clean, ""
}

func (p *Pipeline) checkSources(ps *problems, base string, e Environment, names map[string]int) {
	if e.From != "" && e.Mirror != "" {
		ps.add(base, "has two sources (from %s and mirror %s); set only one", quote(e.From), quote(e.Mirror))
	}
	for _, s := range []struct{ field, value string }{{"from", e.From}, {"mirror", e.Mirror}} {
		switch _, known := names[s.value]; {
		case s.value == "":
		case s.value == e.Name:
			ps.add(joinPath(base, s.field), "names the environment itself")
		case !known:
			ps.add(joinPath(base, s.field), "unknown environment %s (known: %s)", quote(s.value), strings.Join(p.envNames(), ", "))
		}
	}
	if e.Mirror != "" {
		for _, f := range []struct {
			field string
			set   bool
		}{{"auto", e.Auto}, {"pullRequest", e.PullRequest}, {"canary", e.Canary != nil}, {"soak", e.Soak != 0}} {
			if f.set {
				ps.add(joinPath(base, f.field), "not allowed on a mirror environment (it follows %s exactly)", e.Mirror)
			}
		}
	} else if e.Auto && e.PullRequest {
		ps.add(joinPath(base, "pullRequest"), "auto and pullRequest exclude each other; choose one")
	}
}

// envNames lists the environments for an error, each cut to 40 characters.
func (p *Pipeline) envNames() []string {
	out := make([]string, 0, len(p.Environments))
	for _, e := range p.Environments {
		out = append(out, text.Truncate(e.Name, 40))
	}
	return out
}

// cycles returns each cycle of the from/mirror graph once, as environment
// indexes in promotion order (source first), starting at the earliest in
// the file.
func (p *Pipeline) cycles() [][]int {
	sources := p.sourceIndexes()
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(p.Environments))
	var stack []int
	var found [][]int
	seen := map[string]bool{}
	var visit func(int)
	visit = func(i int) {
		color[i] = grey
		stack = append(stack, i)
		for _, s := range sources[i] {
			switch color[s] {
			case white:
				visit(s)
			case grey:
				// stack from s walks source edges; reversed it is promotion order.
				at := slices.Index(stack, s)
				c := slices.Clone(stack[at:])
				slices.Reverse(c)
				// Rotate to start at the smallest index: the same cycle
				// entered from another environment is reported once.
				m := slices.Index(c, slices.Min(c))
				c = append(c[m:], c[:m]...)
				if key := fmt.Sprint(c); !seen[key] {
					seen[key] = true
					found = append(found, c)
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
	}
	for i := range p.Environments {
		if color[i] == white {
			visit(i)
		}
	}
	return found
}
