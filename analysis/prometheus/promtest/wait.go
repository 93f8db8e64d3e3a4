package promtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// scrapedWithin bounds the wait for first scrapes (1 s interval each).
const scrapedWithin = 30 * time.Second

// WaitForTargets waits until Prometheus has scraped each of its targets
// successfully at least once, so their series can be queried. Prometheus
// 2.42 applies discovered targets on a 5 s tick, so this first wait takes
// up to ~6 s; start one server per test package where you can. It fails
// the test, naming each target's last error, when that does not happen
// within 30 s.
func (s *Server) WaitForTargets(t testing.TB) {
	t.Helper()
	client, err := api.NewClient(api.Config{Address: s.url})
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	promAPI := v1.NewAPI(client)
	ctx, cancel := context.WithTimeout(t.Context(), scrapedWithin)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var state string
	for {
		res, err := promAPI.Targets(ctx)
		switch {
		case err != nil:
			state = err.Error()
		case len(res.Active) != s.targets:
			state = fmt.Sprintf("%d active targets, want %d", len(res.Active), s.targets)
		default:
			var down []string
			for _, at := range res.Active {
				if at.Health != v1.HealthGood {
					down = append(down, fmt.Sprintf("%s is %s (%s)", at.ScrapeURL, at.Health, at.LastError))
				}
			}
			if len(down) == 0 {
				return
			}
			state = strings.Join(down, "; ")
		}
		select {
		case <-ctx.Done():
			t.Fatalf("promtest: targets not scraped within %s: %s", scrapedWithin, state)
		case <-tick.C:
		}
	}
}
