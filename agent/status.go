package agent

import (
	"context"

	"github.com/ferry-dev/ferry/agent/status"
)

// Status types, kept here so callers of the agent need not know the read
// model's package.
type (
	EnvStatus = status.EnvStatus
	Verdict   = status.Verdict
	Delivery  = status.Delivery
)

// Refresh reads the fleet repo's head now. Status shows what the last read
// saw; a caller that is not a loop (ferry status --watch) refreshes first,
// or every round would show the first one's repo.
func (a *Agent) Refresh(ctx context.Context) error {
	_, err := a.read(ctx)
	return err
}

// Status is every app's state in every environment: at the head the last
// pass read when a loop runs (pages never fetch, so a page view never
// waits for Git or slows a pass), else at the branch head fetched now.
func (a *Agent) Status(ctx context.Context) ([]EnvStatus, error) {
	st := a.last.Load()
	if st == nil {
		var err error
		if st, err = a.read(ctx); err != nil {
			return nil, err
		}
	}
	return status.Read(ctx, a.fleet, st, a.cfg, a.order, a.Progress())
}
