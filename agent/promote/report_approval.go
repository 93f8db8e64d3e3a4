package promote

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ferry-dev/ferry/agent/config"
)

// approvalView is what a pull request body says about an environment's
// approval: block, from the gate's decision.
type approvalView struct {
	Required, Count int
	Counted         []string // "bob (review, team:product-owners)"
	NotCounted      []string // "alice (review): not in from (team:product-owners)"
	Rejected        []string // "carol (review): not before the migration"
	Missing         []string // approval.from entries one more vote must come from
}

// approvalSection is the "Approvals" part of a proposal's body: where the
// quorum stands and how a person adds their vote.
func approvalSection(b *strings.Builder, v approvalView, rule *config.Approval, app, version, env string) {
	status := fmt.Sprintf("%d of %d", v.Count, v.Required)
	switch {
	case len(v.Rejected) > 0:
		status += ": rejected"
	case v.Count >= v.Required:
		status += ": approved, ferry merges this pull request"
	default:
		status += ": awaiting approval"
		if len(v.Missing) > 0 {
			status += " (needs " + strings.Join(v.Missing, " or ") + ")"
		}
	}
	fmt.Fprintf(b, "### Approvals: %s\n\n", mdEscape(status))
	list := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(b, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(b, "- %s\n", mdEscape(l))
		}
		b.WriteString("\n")
	}
	list("Counted", v.Counted)
	list("Not counted", v.NotCounted)
	list("Rejected by (blocks until withdrawn)", v.Rejected)
	who := "anyone"
	if len(rule.From) > 0 {
		who = strings.Join(rule.From, ", ")
	}
	fmt.Fprintf(b, "%d approval(s) from %s are required.", rule.Required, mdEscape(who))
	if rule.ForbidSelf {
		b.WriteString(" The requester's own (this pull request's author) does not count.")
	}
	if rule.Expires > 0 {
		fmt.Fprintf(b, " A vote counts for %s.", rule.Expires.Std())
	}
	fmt.Fprintf(b, "\n\nTo approve: submit a review that approves this pull request, run `ferry approve %s %s --env %s --reason \"...\"`, or use the dashboard. "+
		"A review that requests changes (or `ferry reject`) blocks. ferry merges this pull request itself once the approvals are in; "+
		"a person who merges it first makes a manual promotion that carries no approvals.\n\n", app, version, env)
}

// entriesNotCounted reads the votes that did not count, with why, from the
// policy input's evidence.approvals.entries.
func entriesNotCounted(input map[string]any) []string {
	ev, _ := input["evidence"].(map[string]any)
	ap, _ := ev["approvals"].(map[string]any)
	entries, _ := ap["entries"].([]any)
	var out []string
	for _, e := range entries {
		m, _ := e.(map[string]any)
		if counts, _ := m["counts"].(bool); counts || m == nil {
			continue
		}
		by, _ := m["by"].(string)
		via, _ := m["via"].(string)
		why, _ := m["why"].(string)
		decision, _ := m["decision"].(string)
		line := by
		if via != "" {
			line += " (" + via + ")"
		}
		if decision != "" && decision != "approve" {
			line += " " + decision
		}
		if why != "" {
			line += ": " + why
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}
