package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// The commands of people's actions: each one commit to the fleet repo
// naming the person (Ferry-Requested-By, or Ferry-Approver for a vote).
// The name is what --as, $FERRY_USER or the OS account says: as
// trustworthy as push access to the fleet repo (with git.verifyCommits,
// the commit's signer is what counts).

// actionFlags are the flags every action command shares.
type actionFlags struct {
	env, reason, as string
}

func (f *actionFlags) add(cmd *cobra.Command, reasonRequired bool) {
	cmd.Flags().StringVar(&f.env, "env", "", "the environment")
	why := "why, recorded in the commit (Ferry-Reason)"
	if reasonRequired {
		why += "; required"
	}
	cmd.Flags().StringVar(&f.reason, "reason", "", why)
	cmd.Flags().StringVar(&f.as, "as", "", "who is acting, for the commit (default: $FERRY_USER, else the OS user)")
	_ = cmd.MarkFlagRequired("env")
	if reasonRequired {
		_ = cmd.MarkFlagRequired("reason")
	}
}

// actor is the person the command acts for: --as, $FERRY_USER, else the
// OS account's name. asGiven says --as was on the command line: empty, it
// is refused rather than falling back to someone else.
func (f *actionFlags) actor(asGiven bool) (ledger.Actor, error) {
	name, from := strings.TrimSpace(f.as), "--as"
	if asGiven && name == "" {
		return ledger.Actor{}, errors.New("--as is empty: name who is acting, or leave --as out")
	}
	if name == "" {
		if v, set := os.LookupEnv("FERRY_USER"); set {
			if name, from = strings.TrimSpace(v), "$FERRY_USER"; name == "" {
				return ledger.Actor{}, errors.New("$FERRY_USER is blank: name who is acting, or unset it")
			}
		}
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name, from = u.Username, "the OS user"
		}
	}
	if name == "" {
		return ledger.Actor{}, errors.New("who is acting is not known: pass --as NAME or set FERRY_USER")
	}
	if strings.ContainsAny(name, " \t\r\n(),") {
		return ledger.Actor{}, fmt.Errorf("%s %q: a name without spaces, commas or parentheses (it goes into a commit trailer)", from, name)
	}
	return ledger.Actor{Name: name, Via: ledger.ViaCLI}, nil
}

// run checks the names, builds the agent and runs act for the actor.
func (f *actionFlags) run(cmd *cobra.Command, g *globals, app string, act func(context.Context, *agent.Agent, ledger.Actor) (string, error)) error {
	// cobra's required flag is satisfied by --reason "": a given reason,
	// required or not, must say something.
	if cmd.Flags().Changed("reason") && strings.TrimSpace(f.reason) == "" {
		return errors.New("--reason is empty")
	}
	by, err := f.actor(cmd.Flags().Changed("as"))
	if err != nil {
		return err
	}
	a, err := g.agent(cmd.Context())
	if err != nil {
		return err
	}
	if err := checkNames(a.Config(), []string{f.env}, "app", []string{app}); err != nil {
		return err
	}
	commit, err := act(cmd.Context(), a, by)
	if err != nil {
		return err
	}
	if commit == "" {
		return errors.New("nothing changed: the same vote is recorded already")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "pushed %.12s\n", commit)
	return nil
}

func approveCmd(g *globals) *cobra.Command { return voteCmd(g, false) }
func rejectCmd(g *globals) *cobra.Command  { return voteCmd(g, true) }

// voteCmd is `ferry approve` and `ferry reject`.
func voteCmd(g *globals, reject bool) *cobra.Command {
	var f actionFlags
	cmd := &cobra.Command{
		Use:   "approve APP VERSION --env ENV",
		Short: "Approve a version for an environment with approval: (a commit to .ferry/approvals.yaml)",
		Long: `approve records your approval of VERSION of APP for ENV in
.ferry/approvals.yaml, one commit whose Ferry-Approver trailer names you
("alice (cli)"). The gate counts it toward ENV's approval: quorum
(input.evidence.approvals); a later vote of yours on the same version
replaces this one. ENV must have approval: in ferry.yaml and VERSION must
be a tag the registry has. You are --as, else $FERRY_USER, else the OS
user: as trustworthy as push access to the fleet repo (with
git.verifyCommits, the commit's signer is what counts).`,
		Example: `  ferry approve checkout 1.4.2 --env prod --reason "release notes reviewed"
  FERRY_USER=carol ferry approve checkout 1.4.2 --env prod`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, g, args[0], func(ctx context.Context, a *agent.Agent, by ledger.Actor) (string, error) {
				if reject {
					return a.Reject(ctx, args[0], args[1], f.env, by, nil, f.reason)
				}
				return a.Approve(ctx, args[0], args[1], f.env, by, nil, f.reason)
			})
		},
	}
	if reject {
		cmd.Use = "reject APP VERSION --env ENV --reason REASON"
		cmd.Short = "Block a version from an environment with approval: (a commit to .ferry/approvals.yaml)"
		cmd.Long = `reject records your rejection of VERSION of APP for ENV in
.ferry/approvals.yaml, one commit whose Ferry-Approver trailer names you. A
rejection blocks the version in ENV whatever the approvals, until you
approve it instead ('ferry approve' replaces your vote). ENV must have
approval: in ferry.yaml. To stop a version everywhere after it failed, use
'ferry rollback' (it rejects it in .ferry/rejected.yaml).`
		cmd.Example = `  ferry reject checkout 1.4.2 --env prod --reason "legal sign-off missing"`
	}
	f.add(cmd, reject)
	return cmd
}

// promoteCmd is `ferry promote`: a manual promotion, through the gate.
func promoteCmd(g *globals) *cobra.Command {
	var f actionFlags
	cmd := &cobra.Command{
		Use:   "promote APP VERSION --env ENV --reason REASON",
		Short: "Promote a version into an environment now, skipping the chain (a commit, decided by the policies)",
		Long: `promote moves VERSION of APP into ENV now, whatever the environments
before it run: a hotfix. VERSION must be a tag the registry has, not
rejected, and not what ENV runs. The policies decide it as any promotion,
with input.request = {"kind": "manual", "by", "via", "reason"}: the default
policies deny what the chain has not proven (soak, analyses), so a
manual promotion needs a rule that allows input.request.kind == "manual".
A denial prints the policies' reasons and writes nothing. Allowed, it is one
commit (Ferry-From: manual, Ferry-Requested-By: you (cli)); a mirror of ENV
follows at the next pass, and a canary environment starts a delivery.`,
		Example: `  ferry promote checkout 1.4.3 --env prod --reason "hotfix for the payment timeout"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, g, args[0], func(ctx context.Context, a *agent.Agent, by ledger.Actor) (string, error) {
				return a.Promote(ctx, args[0], args[1], f.env, by, f.reason)
			})
		},
	}
	f.add(cmd, true)
	return cmd
}

// rollbackCmd is `ferry rollback`: an alert's rollback asked for by a person.
func rollbackCmd(g *globals) *cobra.Command {
	var f actionFlags
	var to string
	cmd := &cobra.Command{
		Use:   "rollback APP --env ENV [--to VERSION] --reason REASON",
		Short: "Roll an environment back and reject the version it runs (a commit, not gated)",
		Long: `rollback moves ENV (and the environments that mirror it) back to VERSION
(--to: a version ENV ran before) or to the last good version, the one an
alert's rollback would pick, and rejects the version ENV runs in
.ferry/rejected.yaml, in one commit naming you (Ferry-Requested-By) with
your reason. Like an alert's rollback it is not decided by the policies, so
it works while evidence servers are down. A canary in progress is aborted
instead. Under git.verifyCommits require, the version to go back to must
have been set by a verified commit.`,
		Example: `  ferry rollback checkout --env prod --reason "checkout times out"
  ferry rollback checkout --env prod --to 1.4.0 --reason "1.4.1 and 1.4.2 share the bug"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, g, args[0], func(ctx context.Context, a *agent.Agent, by ledger.Actor) (string, error) {
				return a.Rollback(ctx, args[0], f.env, to, by, f.reason)
			})
		},
	}
	f.add(cmd, true)
	cmd.Flags().StringVar(&to, "to", "", "the version to go back to (default: the last good version)")
	return cmd
}

// abortCmd is `ferry abort`: a failed analysis's abort, asked for by a person.
func abortCmd(g *globals) *cobra.Command {
	var f actionFlags
	cmd := &cobra.Command{
		Use:   "abort APP --env ENV --reason REASON",
		Short: "Abort the canary in progress in an environment (a commit, not gated)",
		Long: `abort ends the progressive delivery of APP in progress in ENV as a failed
analysis does: all traffic back on the stable version, the canary's version
rejected, one commit naming you (Ferry-Requested-By) with your reason. It
exits 1 when no delivery is in progress.`,
		Example: `  ferry abort checkout --env prod --reason "p99 latency doubled"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, g, args[0], func(ctx context.Context, a *agent.Agent, by ledger.Actor) (string, error) {
				return a.Abort(ctx, args[0], f.env, by, f.reason)
			})
		},
	}
	f.add(cmd, true)
	return cmd
}
