package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/internal/output"
	"github.com/ferry-dev/ferry/internal/text"
)

// planCmd is `ferry plan`: the same pass as `ferry run`, dry (agent.Plan), so
// what it prints is what a run would do.
func planCmd(g *globals) *cobra.Command {
	var format *output.Format
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show every candidate per app and environment, and what ferry would do; writes nothing",
		Example: `  ferry plan --config ferry.yaml
  ferry plan --config ferry.yaml -o json | jq '.steps[] | select(.action=="promote")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := g.agent(ctx)
			if err != nil {
				return err
			}
			plan, err := a.Plan(ctx)
			if err != nil {
				return err
			}
			return format.Print(cmd.OutOrStdout(), plan, func(w io.Writer) error {
				printPlan(w, plan)
				return nil
			})
		},
	}
	format = output.AddFlag(cmd)
	return cmd
}

// printPlan prints a table for the overview, then the details per step
// below it, so long reasons and denials never break the columns.
func printPlan(w io.Writer, plan *agent.Plan) {
	fmt.Fprintf(w, "fleet repo at %.12s\n", plan.Commit)
	for _, u := range plan.Ungated {
		fmt.Fprintf(w, "warning: %s\n", u.Reason)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tAPP\tMODE\tCURRENT\tCANDIDATE\tFROM\tACTION\tREASON")
	for _, s := range plan.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Env, s.App, s.Mode, s.Current, s.Candidate, s.From, s.Action, cell(s.Reason))
	}
	_ = tw.Flush()
	for _, s := range plan.Steps {
		d := s.Decision
		decided := d != nil && len(d.Deny)+len(d.Warn)+len(d.Notes) > 0
		// A reason the table cut is printed whole: a hold's way out (the
		// command to run) and an error's cause are at its end. A denial's
		// reasons are its deny lines.
		cut := cell(s.Reason) != s.Reason && !(decided && len(d.Deny) > 0)
		if !decided {
			if cut {
				fmt.Fprintf(w, "\n%s %s -> %s: %s\n  reason: %s\n", s.App, s.Candidate, s.Env, s.Action, s.Reason)
			}
			continue
		}
		fmt.Fprintf(w, "\n%s %s -> %s: %s (policy %s)\n", s.App, s.Candidate, s.Env, verdict(d), shortPolicy(d.Policy))
		if cut {
			fmt.Fprintf(w, "  reason: %s\n", s.Reason)
		}
		for _, r := range d.Deny {
			fmt.Fprintf(w, "  deny: %s\n", r)
		}
		for _, r := range d.Warn {
			fmt.Fprintf(w, "  warn: %s\n", r)
		}
		for _, r := range d.Notes {
			fmt.Fprintf(w, "  note: %s\n", r)
		}
		for _, e := range d.Evidence {
			fmt.Fprintf(w, "  evidence: %s\n", e)
		}
	}
	printSkipped(w, plan.Skipped)
	printUntrusted(w, plan.Untrusted)
}

// printUntrusted says, per verified app, which newer tags were passed over
// because no signature of theirs verifies, and what failed.
func printUntrusted(w io.Writer, untrusted []agent.SkippedTags) {
	for _, s := range untrusted {
		fmt.Fprintf(w, "\n%s: tags not trusted (no signature that verifies)\n", s.App)
		for _, t := range s.Tags {
			fmt.Fprintf(w, "  untrusted: %s: %s\n", t.Tag, t.Reason)
		}
	}
}

// printSkipped says, per app, which version-like tags its tag policy
// refused and why: a "1.9.9_build" ignored in silence looks like a
// registry that never answered.
func printSkipped(w io.Writer, skipped []agent.SkippedTags) {
	for _, s := range skipped {
		fmt.Fprintf(w, "\n%s: tags skipped by its tag policy\n", s.App)
		for _, t := range s.Tags {
			fmt.Fprintf(w, "  skipped: %s: %s\n", t.Tag, t.Reason)
		}
		if s.More > 0 {
			fmt.Fprintf(w, "  skipped: %d more\n", s.More)
		}
	}
}

func verdict(d *agent.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

// shortPolicy keeps "sha256:" and 12 hex digits, as digests are shortened.
func shortPolicy(h string) string {
	if len(h) > 19 {
		return h[:19]
	}
	return h
}

// cell is s as one table cell: newlines become spaces, and past 120
// characters it is cut between two characters, never inside a UTF-8 one
// (a policy's message may be in any language), and ends with "…".
// printPlan prints a reason it cut whole under the table.
func cell(s string) string {
	return text.Truncate(strings.ReplaceAll(s, "\n", " "), 120)
}

func printResult(w io.Writer, res *agent.Result) {
	if len(res.Promotions) == 0 {
		fmt.Fprintf(w, "nothing to promote at %.12s\n", res.Plan.Commit)
	}
	for _, p := range res.Promotions {
		fmt.Fprintf(w, "promoted %s %s to %s (from %s) in %.12s\n", p.App, p.Candidate, p.Env, p.From, p.Commit)
	}
	for _, pr := range res.PullRequests {
		fmt.Fprintf(w, "pull request #%d (%s) %s %s to %s: %s\n", pr.Number, pr.State, pr.App, pr.Candidate, pr.Env, pr.Reason)
	}
	for _, e := range res.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}
