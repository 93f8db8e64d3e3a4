package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/output"
	"github.com/ferry-dev/ferry/policies"
)

// exitError carries an exit code other than 1 (policy test's 2 on a compile error).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func policyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test and evaluate promotion policies (Rego, package ferry.promotion)",
		Example: `  ferry policy test policies/
  ferry policy input checkout prod --config ferry.yaml > input.json
  ferry policy eval --input input.json --policies policies/`,
	}
	cmd.AddCommand(policyTestCmd(), policyEvalCmd(), policyInputCmd(g))
	return cmd
}

func policyTestCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the *_test.rego files of DIR (default policies/) like opa test",
		Long: `test loads DIR as the agent does (policies type-checked with
DIR/input.schema.json, JSON and YAML data files) and runs every test rule in
DIR's *_test.rego files. Exit 0 when all pass (or DIR has no tests and loads),
1 when one fails, 2 when the policies or their data do not load, tests or not.`,
		Example: `  ferry policy test
  ferry policy test -v ./policies`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "policies"
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			// The parent as the file system and the directory by name: the
			// engine loads a named directory, as it does in the fleet repo.
			code, err := policies.RunTests(cmd.Context(), os.DirFS(filepath.Dir(abs)), filepath.Base(abs), verbose, cmd.OutOrStdout())
			// The error on stderr, its kind in the exit code, as opa test.
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
			}
			if code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every test, not only failures")
	return cmd
}

func policyEvalCmd() *cobra.Command {
	var input, dir string
	var format *output.Format
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "eval --input FILE",
		Short: "Print the decision the policies make for an input document",
		Long: `eval prints allow or deny, then one reason per line; -o json prints
{"allow": bool, "deny": [...], "warn": [...], "data": [...]}, where data lists
the data files loaded ({"file": "teams/data.yaml", "path": "data.teams"}).
It exits 0 whatever the decision; a decision that runs past --timeout is an
error, as it is a denial in the agent.`,
		Example: `  ferry policy eval --input input.json
  ferry policy input checkout prod > input.json && ferry policy eval --input input.json -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Check the directory first: a missing one is the flag's fault,
			// not the input file's.
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("policy directory %s does not exist (looked for %s); name it with --policies", dir, abs)
			}
			e, err := policies.Load(cmd.Context(), os.DirFS(filepath.Dir(abs)), filepath.Base(abs), policies.WithDecisionTimeout(timeout))
			if err != nil {
				return err // names the policy directory and file
			}
			data, err := os.ReadFile(input)
			if err != nil {
				return err
			}
			d, err := e.Decide(cmd.Context(), data)
			if err != nil {
				return fmt.Errorf("%s: %w", input, err)
			}
			// policies owns the decision's JSON document (allow, deny,
			// warn, data); it encodes it as output.WriteJSON does.
			return policies.PrintDecision(cmd.OutOrStdout(), d, e.Data(), *format == output.JSON)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "input document (JSON), as `ferry policy input` prints it")
	cmd.Flags().StringVar(&dir, "policies", "policies", "policy directory")
	format = output.AddFlag(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", policies.DefaultDecisionTimeout, "stop the decision after this long, as the agent does")
	_ = cmd.MarkFlagRequired("input")
	return cmd
}

func policyInputCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "input APP ENV",
		Short: "Print the input document ferry would give the policies now",
		Long: `input reads the fleet repo and the registry as a pass would, gathers the
evidence for APP's candidate in ENV, and prints the policy input, so policy
authors can write tests from real data. It writes nothing.`,
		Example: `  ferry policy input checkout prod --config ferry.yaml`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			a, err := g.agent(ctx)
			if err != nil {
				return err
			}
			input, notes, err := a.PolicyInput(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			// Why evidence is absent goes to stderr: stdout stays the document.
			for _, n := range notes {
				fmt.Fprintln(cmd.ErrOrStderr(), "note:", n)
			}
			return output.WriteJSON(cmd.OutOrStdout(), input)
		},
	}
}
