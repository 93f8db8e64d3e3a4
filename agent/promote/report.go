package promote

import (
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/plan"
)

// gateReport is a pull request's body: the decision, its reasons, the
// evidence and the overlay diff, for the person who approves by merging.
func gateReport(step plan.Step, env *config.Environment, path string, before, after []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ferry proposes **%s %s** for **%s** (from %s; now %s).\n\n", step.App, step.Candidate.Tag, env.Name, step.From, step.Current)
	fmt.Fprintf(&b, "Digest: `%s`\n\n", step.Candidate.Digest)
	if d := step.Decision; d != nil {
		verdict := "allow"
		if d.AwaitingApproval {
			verdict = "awaiting approval"
		}
		fmt.Fprintf(&b, "### Decision: %s\n\nPolicy bundle `%s`.\n\n", verdict, d.Policy)
		if len(d.Warn) > 0 {
			b.WriteString("Warnings:\n")
			for _, w := range d.Warn {
				fmt.Fprintf(&b, "- %s\n", mdEscape(w))
			}
			b.WriteString("\n")
		}
		if len(d.Evidence)+len(d.Notes) > 0 {
			b.WriteString("| Evidence | |\n|---|---|\n")
			for _, e := range d.Evidence {
				kind, rest, _ := strings.Cut(e, " ")
				fmt.Fprintf(&b, "| %s | %s |\n", kind, mdEscape(rest))
			}
			for _, n := range d.Notes {
				fmt.Fprintf(&b, "| absent | %s |\n", mdEscape(n))
			}
			b.WriteString("\n")
		}
	}
	if env.Approval != nil {
		v := approvalView{Required: env.Approval.Required}
		if d := step.Decision; d != nil && d.Approval != nil {
			a := d.Approval
			v = approvalView{Required: a.Required, Count: a.Count, Counted: a.By, Rejected: a.RejectedBy, Missing: a.Missing,
				NotCounted: entriesNotCounted(d.Input)}
		}
		approvalSection(&b, v, env.Approval, step.App, step.Candidate.Tag, env.Name)
	}
	fmt.Fprintf(&b, "<details><summary>%s</summary>\n\n```diff\n%s```\n</details>\n\n", path, lineDiff(string(before), string(after)))
	if env.Approval != nil {
		b.WriteString("Closing this pull request without merging refuses this version for this environment.\n")
		return b.String()
	}
	b.WriteString("Merging this pull request is the approval: ferry carries on from the merge. Closing it without merging refuses this version for this environment.\n")
	return b.String()
}

// mdEscape keeps policy messages and evidence inside their table cell: a
// "|" or a newline from a policy author would otherwise break the table.
func mdEscape(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }

// lineDiff is a minimal unified-style diff (no hunks) of two small files.
func lineDiff(a, b string) string {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	// Longest common subsequence table; kustomizations are small.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	line := func(prefix, s string) {
		if s == "" {
			return
		}
		out.WriteString(prefix + strings.TrimSuffix(s, "\n") + "\n")
	}
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			line(" ", x[i])
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			line("-", x[i])
			i++
		default:
			line("+", y[j])
			j++
		}
	}
	for ; i < len(x); i++ {
		line("-", x[i])
	}
	for ; j < len(y); j++ {
		line("+", y[j])
	}
	return out.String()
}
