package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// EditFile changes one file of the fleet repo by commit: it reads the file
// at the head (nil when absent), applies edit, and pushes the result,
// re-applying the edit on a newer head when the remote moved. It returns the
// commit, or "" when edit changed nothing. `ferry unreject`, `ferry freeze`
// and `ferry unfreeze` are such commits.
func (a *Agent) EditFile(ctx context.Context, name string, edit func([]byte) ([]byte, bool, error), msg fleet.Message) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 1; ; attempt++ {
		snap, err := a.fleet.Fetch(ctx)
		if err != nil {
			return "", err
		}
		data, err := readOptional(snap, name)
		if err != nil {
			return "", err
		}
		out, changed, err := edit(data)
		if err != nil || !changed {
			return "", err
		}
		next, err := a.fleet.Commit(snap, map[string][]byte{name: out}, msg, a.now())
		if err != nil {
			return "", fmt.Errorf("commit %s: %w", name, err)
		}
		err = a.fleet.Push(ctx, next)
		if err == nil {
			return next.Hash(), nil
		}
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= a.attempts {
			return "", err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return "", err
		}
	}
}
