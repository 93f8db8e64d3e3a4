package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent/dora"
	"github.com/ferry-dev/ferry/internal/output"
)

// doraCmd is `ferry dora`: the computation behind the ferry_dora_* gauges,
// on demand and over any window.
func doraCmd(g *globals) *cobra.Command {
	var (
		format          *output.Format
		since, env, app string
	)
	cmd := &cobra.Command{
		Use:   "dora",
		Short: "Show DORA metrics (deployment frequency, lead time, change failure rate, time to restore) from the fleet repo's history",
		Long: `dora reads the fleet repo's history of one environment (default: the last one
that is not a mirror, usually prod). A deployment is a commit that changed an
app's version in the environment's overlay, ferry's or a person's. Lead time
runs from the image's creation (the Ferry-Created trailer) or else from the
version's first appearance in any environment. A deployment failed when it
was rolled back (a rollback or Revert commit, or Ferry-Rejects naming it);
an aborted canary is a failed change too. Time to restore runs from a
rollback to the next deployment that was not rolled back.`,
		Example: `  ferry dora --config ferry.yaml
  ferry dora --config ferry.yaml --since 90d --env prod --app checkout
  ferry dora --config ferry.yaml --since 7d -o json | jq .overall`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			window, err := dora.ParseSince(since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			ctx := cmd.Context()
			p, repo, err := g.loadPipeline(ctx)
			if err != nil {
				return err
			}
			head, err := repo.Fetch(ctx)
			if err != nil {
				return err
			}
			r, err := dora.Compute(ctx, repo, head, p, dora.Options{Env: env, App: app, Since: window, Now: time.Now()})
			if err != nil {
				return err
			}
			return format.Print(cmd.OutOrStdout(), r, r.WriteText)
		},
	}
	format = output.AddFlag(cmd)
	cmd.Flags().StringVar(&since, "since", "30d", "window ending now: a Go duration or days (30d, 36h, 1d12h); 0 for the whole history")
	cmd.Flags().StringVar(&env, "env", "", "environment to measure (default: the last one that is not a mirror)")
	cmd.Flags().StringVar(&app, "app", "", "only this app")
	return cmd
}
