package dora

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteText prints the report as a table: one row per app, then all apps.
func (r Report) WriteText(w io.Writer) error {
	head := r.Head
	if len(head) > 12 {
		head = head[:12]
	}
	if _, err := fmt.Fprintf(w, "DORA metrics of %s, %s to %s (%.1f days), at %s\n\n",
		r.Env, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339), r.Days, head); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tDEPLOYS\tPER DAY\tLEAD P50\tLEAD P90\tLEAD MEAN\tCHANGE FAILURE\tROLLBACKS\tRESTORE P50\tRESTORE MEAN\tOPEN")
	row := func(name string, m Metrics) {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\n", name, m.Deployments, m.DeploymentsPerDay,
			human(m.LeadTime.Count, m.LeadTime.P50), human(m.LeadTime.Count, m.LeadTime.P90), human(m.LeadTime.Count, m.LeadTime.Mean),
			failureRate(m), m.Rollbacks,
			human(m.TimeToRestore.Count, m.TimeToRestore.P50), human(m.TimeToRestore.Count, m.TimeToRestore.Mean), m.OpenIncidents)
	}
	for _, a := range r.Apps {
		row(a.App, a.Metrics)
	}
	// With one app its row is already the total.
	if len(r.Apps) > 1 {
		row("(all)", r.Overall)
	}
	return tw.Flush()
}

func failureRate(m Metrics) string {
	if m.Changes == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%% (%d/%d)", 100*m.ChangeFailureRate, m.Failures, m.Changes)
}

// human prints seconds as 3d4h, 2h5m, 4m10s or 12s; "-" when there is no data
// (0s would read as instant).
func human(count int, secs float64) string {
	if count == 0 {
		return "-"
	}
	d := time.Duration(secs * float64(time.Second)).Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, (d%time.Minute)/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
