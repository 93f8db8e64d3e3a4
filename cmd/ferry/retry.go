package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent/ledger"
)

// retryAnalysisCmd is `ferry retry-analysis`: it removes the verdict rather
// than writing a Successful one, so the version still has to earn it.
func retryAnalysisCmd(g *globals) *cobra.Command {
	var env, reason string
	cmd := &cobra.Command{
		Use:   "retry-analysis APP --env ENV",
		Short: "Analyse again what an environment runs now (removes its verdict, a git note edit)",
		Long: `retry-analysis removes ENV's verdict on what it runs of APP now (the
verification of its version, or the current step of a delivery in
progress) from the git note on the commit that brought it. The running
agent then analyses it again at its next pass; 'ferry run --once' does so
at once. It is the way out of a hold after an inconclusive verdict (a
Prometheus that was down, a query with no data): the hold's message names
this command. It exits 1 when ENV has no verdict on it to remove.`,
		Example: `  ferry retry-analysis checkout --env qa --config ferry.yaml
  ferry retry-analysis checkout --env prod --reason "Prometheus was down during the analysis"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app := args[0]
			if cmd.Flags().Changed("reason") && strings.TrimSpace(reason) == "" {
				return errors.New("--reason is empty")
			}
			if err := ledger.CheckReason(reason); err != nil {
				return fmt.Errorf("--reason: %w", err)
			}
			a, err := g.agent(cmd.Context())
			if err != nil {
				return err
			}
			// Name the environments and apps there are, as freeze does, so
			// a typo is told apart from a missing verdict.
			if err := checkNames(a.Config(), []string{env}, "app", []string{app}); err != nil {
				return err
			}
			// With no verdict to remove the agent refuses, saying so.
			commit, err := a.RetryAnalysis(cmd.Context(), app, env)
			if err != nil {
				return err
			}
			// The note's history keeps no reason: say it where people look.
			g.log.Info("analysis to run again", "app", app, "env", env, "commit", commit, "reason", reason)
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s's verdict on %s from the note on %.12s; the next pass analyses it again\n", env, app, commit)
			return nil
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "the environment whose verdict to remove")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the log")
	_ = cmd.MarkFlagRequired("env")
	return cmd
}
