package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/output"
)

func statusCmd(g *globals) *cobra.Command {
	var (
		format   *output.Format
		agentURL string
		watch    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show what each app runs in each environment, deliveries in progress and analysis verdicts",
		Long: `status reads the fleet repo: each app's version per environment, the step and
traffic weight of a progressive delivery in progress, and the newest analysis
verdict (the git note on the commit that brought the version or the step).
With --agent it also shows the measurements of the analyses a running
'ferry run --listen' is making now.`,
		Example: `  ferry status --config ferry.yaml
  ferry status --config ferry.yaml --agent http://127.0.0.1:8080 --watch 2s
  ferry status --config ferry.yaml -o json | jq '.[] | select(.delivery)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, err := g.agent(ctx)
			if err != nil {
				return err
			}
			for {
				err := a.Refresh(ctx)
				var st []agent.EnvStatus
				if err == nil {
					st, err = a.Status(ctx)
				}
				if err != nil {
					if ctx.Err() != nil && watch > 0 {
						return nil // interrupted while watching: not a failure
					}
					return err
				}
				if agentURL != "" {
					if err := attachLive(ctx, agentURL, st); err != nil {
						return err
					}
				}
				err = format.Print(cmd.OutOrStdout(), st, func(w io.Writer) error {
					printStatus(w, st)
					return nil
				})
				if err != nil {
					return err
				}
				if watch <= 0 {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(watch):
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
		},
	}
	format = output.AddFlag(cmd)
	cmd.Flags().StringVar(&agentURL, "agent", "", "URL of a running 'ferry run --listen', for live analysis measurements")
	cmd.Flags().DurationVar(&watch, "watch", 0, "print again at this interval until interrupted")
	return cmd
}

// attachLive fetches the running agent's analyses and attaches each to its row.
func attachLive(ctx context.Context, base string, st []agent.EnvStatus) error {
	// Bounded in time and size: a wrong --agent URL must not hang the
	// command or stream into memory.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/progress", nil)
	if err != nil {
		return fmt.Errorf("--agent: %w", err)
	}
	// ferry's own client: dial and header deadlines, no https->http redirects.
	resp, err := httpx.NewClient(nil, httpx.Timeouts{Request: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("--agent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("--agent: GET /api/progress: %s", resp.Status)
	}
	var live []agent.Progress
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&live); err != nil {
		return fmt.Errorf("--agent: /api/progress: %w", err)
	}
	for i := range live {
		for j := range st {
			if st[j].App == live[i].App && st[j].Env == live[i].Env {
				st[j].Live = &live[i]
			}
		}
	}
	return nil
}

func printStatus(w io.Writer, st []agent.EnvStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tENV\tVERSION\tDELIVERY\tANALYSIS")
	for _, s := range st {
		delivery := "-"
		if d := s.Delivery; d != nil {
			delivery = fmt.Sprintf("%s %s step %s, %d%% (%s)", d.Strategy, d.Version.Tag, d.Step, d.Weight, d.Label)
		}
		verdict := "-"
		switch {
		// A run in progress is newer than any note.
		case s.Live != nil && s.Live.Verdict == analysis.Running:
			verdict = fmt.Sprintf("%s: Running%s", s.Analysis, latest(s.Live.Measurements))
		case s.Verdict != nil:
			verdict = fmt.Sprintf("%s: %s", s.Verdict.Template, s.Verdict.Verdict)
			if s.Verdict.Verdict != analysis.Successful && s.Verdict.Reason != "" {
				verdict += " (" + cell(s.Verdict.Reason) + ")"
			}
		case s.Error != "":
			verdict = "error: " + cell(s.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.App, s.Env, s.Version, delivery, verdict)
	}
	_ = tw.Flush()
}

// latest is each metric's newest measurement: " error-ratio=0.001 (Successful)".
func latest(ms []analysis.Measurement) string {
	seen := map[string]bool{}
	var parts []string
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if seen[m.Metric] {
			continue
		}
		seen[m.Metric] = true
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", m.Metric, analysis.FormatValue(m.Value), m.Phase))
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, ", ")
}
