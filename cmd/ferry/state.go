package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// unrejectCmd is `ferry unreject`: a commit, like every change ferry
// makes, so the fleet repo's history says who allowed a version again.
func unrejectCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "unreject APP VERSION",
		Short: "Allow a rejected version again (a commit to .ferry/rejected.yaml)",
		Long: `A rollback records the bad version in .ferry/rejected.yaml so that no
environment promotes it again. unreject removes it by commit; editing the
file by hand does the same.`,
		Example: `  ferry unreject checkout 1.4.2 --config ferry.yaml`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.agent(cmd.Context())
			if err != nil {
				return err
			}
			commit, err := a.EditFile(cmd.Context(), gitstate.RejectionsFile, func(data []byte) ([]byte, bool, error) {
				return gitstate.RemoveRejection(data, args[0], args[1])
			}, &ledger.Unreject{App: args[0], Version: args[1]})
			return report(cmd, commit, err, fmt.Sprintf("%s %s is not rejected", args[0], args[1]))
		},
	}
}

func freezeCmd(g *globals) *cobra.Command {
	var f gitstate.Freeze
	var from, until string
	cmd := &cobra.Command{
		Use:   "freeze NAME",
		Short: "Freeze promotions (a commit to .ferry/freeze.yaml)",
		Long: `freeze adds a window in which the policies see input.evidence.freeze for
the given environments and apps (all when none are named): a fixed range
(--until, optionally --from) or a recurring one (--schedule cron and --duration).`,
		Example: `  ferry freeze black-friday --env prod --env dr --reason "black friday" --until 2026-11-30T00:00:00Z
  ferry freeze weekend --env prod --reason "no prod changes at the weekend" --schedule "0 18 * * FRI" --duration 62h --timezone Europe/Paris`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.Name = args[0]
			var err error
			// RFC 3339 with its zone: a freeze is a moment, not a local
			// wall-clock time.
			if from != "" {
				if f.From, err = time.Parse(time.RFC3339, from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if until != "" {
				if f.Until, err = time.Parse(time.RFC3339, until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			a, err := g.agent(cmd.Context())
			if err != nil {
				return err
			}
			if err := checkFreeze(a.Config(), f, time.Now()); err != nil {
				return err
			}
			commit, err := a.EditFile(cmd.Context(), gitstate.FreezesFile, func(data []byte) ([]byte, bool, error) {
				// The same freeze again changes nothing: no empty commit.
				out, err := gitstate.AddFreeze(data, f)
				return out, err == nil && string(out) != string(data), err
			}, &ledger.Freeze{Name: f.Name, Reason: f.Reason})
			return report(cmd, commit, err, "the freeze is already there")
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.Envs, "env", nil, "environment to freeze (repeat; default all)")
	fl.StringArrayVar(&f.Apps, "app", nil, "app to freeze (repeat; default all)")
	fl.StringVar(&f.Reason, "reason", "", "why, for people and policies")
	fl.StringVar(&from, "from", "", "start of a fixed window (RFC 3339; default now)")
	fl.StringVar(&until, "until", "", "end of a fixed window (RFC 3339)")
	fl.StringVar(&f.Schedule, "schedule", "", "cron schedule of a recurring window's start")
	fl.DurationVar(&f.Duration, "duration", 0, "length of each recurring window")
	fl.StringVar(&f.Timezone, "timezone", "", "IANA time zone of --schedule (default UTC)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func unfreezeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "unfreeze NAME",
		Short:   "Lift a freeze (a commit to .ferry/freeze.yaml)",
		Example: `  ferry unfreeze black-friday --config ferry.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := g.agent(cmd.Context())
			if err != nil {
				return err
			}
			commit, err := a.EditFile(cmd.Context(), gitstate.FreezesFile, func(data []byte) ([]byte, bool, error) {
				return gitstate.RemoveFreeze(data, args[0])
			}, &ledger.Unfreeze{Name: args[0]})
			return report(cmd, commit, err, "no freeze named "+args[0])
		},
	}
}

// report prints the pushed commit. Nothing to change is an error exit: a
// script that lifts a freeze it believed active should hear it was not.
func report(cmd *cobra.Command, commit string, err error, nothing string) error {
	switch {
	case err != nil:
		return err
	case commit == "":
		return errors.New(nothing)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %.12s\n", commit)
	return nil
}

// checkFreeze refuses a freeze that would not hold what its author meant:
// an environment or app ferry.yaml does not have (a typo would leave prod
// unfrozen), or a window that is already over.
func checkFreeze(p *config.Pipeline, f gitstate.Freeze, now time.Time) error {
	if err := checkNames(p, f.Envs, "--app", f.Apps); err != nil {
		return err
	}
	if !f.Until.IsZero() && !f.Until.After(now) {
		return fmt.Errorf("--until %s is in the past (now %s): the freeze would never hold", f.Until.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !f.From.IsZero() && !f.Until.IsZero() && !f.Until.After(f.From) {
		return fmt.Errorf("--until %s is not after --from %s", f.Until.UTC().Format(time.RFC3339), f.From.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkNames refuses environments and apps ferry.yaml does not have,
// listing those it has so the person sees the typo. appLabel names where
// the apps came from in the error: "--app" for a flag, "app" for an
// argument.
func checkNames(p *config.Pipeline, envs []string, appLabel string, apps []string) error {
	var haveEnvs, haveApps []string
	for _, e := range p.Environments {
		haveEnvs = append(haveEnvs, e.Name)
	}
	for _, a := range p.Apps {
		haveApps = append(haveApps, a.Name)
	}
	for _, e := range envs {
		if !slices.Contains(haveEnvs, e) {
			return fmt.Errorf("--env %q: no such environment in %s (environments: %s)", e, p.Source, strings.Join(haveEnvs, ", "))
		}
	}
	for _, a := range apps {
		if !slices.Contains(haveApps, a) {
			return fmt.Errorf("%s %q: no such app in %s (apps: %s)", appLabel, a, p.Source, strings.Join(haveApps, ", "))
		}
	}
	return nil
}
