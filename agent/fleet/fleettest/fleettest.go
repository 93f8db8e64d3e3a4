// Package fleettest gives the tests of ferry's writers a fleet repository:
// a real git remote held in memory (fleet.MemoryRemote, compare-and-swap
// pushes like receive-pack) and one clone per writer, as ferry's replicas
// and the people editing the repo each have their own.
package fleettest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// ids keeps remote names unique: remotes are registered process-wide by
// name, and tests of one package run in parallel.
var ids atomic.Int64

// Remote is an empty remote named after prefix, forgotten when the test ends.
func Remote(tb testing.TB, prefix string) *fleet.MemoryRemote {
	tb.Helper()
	m := fleet.NewMemoryRemote(fmt.Sprintf("%s-%d", prefix, ids.Add(1)))
	tb.Cleanup(m.Close)
	return m
}

// Clone is who's clone of m; its commits are authored as who.
func Clone(tb testing.TB, m *fleet.MemoryRemote, who string) *fleet.Repo {
	tb.Helper()
	r, err := fleet.Open(context.Background(), fleet.Options{URL: m.URL(), InMemory: true,
		Author: fleet.Signature{Name: who, Email: who + "@example.com"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Push commits files on r's view of the remote's head (nil files: none
// changed) and pushes the commit; the test fails if either does.
func Push(tb testing.TB, r *fleet.Repo, files map[string][]byte, msg string, when time.Time) *fleet.Snapshot {
	tb.Helper()
	ctx := context.Background()
	head, err := r.Fetch(ctx)
	if err != nil && !errors.Is(err, fleet.ErrEmptyRemote) {
		tb.Fatal(err)
	}
	c, err := r.Commit(head, files, msg, when)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.Push(ctx, c); err != nil {
		tb.Fatal(err)
	}
	return c
}
