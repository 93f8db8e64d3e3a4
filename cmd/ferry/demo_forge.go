// The demo's forge: pull requests kept in memory (their bodies also in
// pulls/N.md), merged as a reviewer would, with a merge commit.

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// demoForge keeps pull requests in memory, as a forge would, and writes
// each body (the gate report) to pulls/N.md. Merging one is a person's
// approval: a merge commit of its branch on main, pushed from a clone of
// the forge's own.
type demoForge struct {
	dir   string
	repo  *fleet.Repo
	mu    sync.Mutex
	pulls []pullrequest.PR
	// opened sees every pull request opened or updated.
	opened func(pullrequest.PR)
}

func (f *demoForge) Find(_ context.Context, head string) ([]pullrequest.PR, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []pullrequest.PR
	for _, pr := range f.pulls {
		if pr.Head == head {
			out = append(out, pr)
		}
	}
	return out, nil
}

func (f *demoForge) Open(_ context.Context, head, base, title, body string) (pullrequest.PR, error) {
	f.mu.Lock()
	n := len(f.pulls) + 1
	pr := pullrequest.PR{Number: n, URL: filepath.Join(f.dir, fmt.Sprintf("%d.md", n)), Title: title, Body: body,
		Head: head, Base: base, State: pullrequest.StateOpen, UpdatedAt: time.Now()}
	f.pulls = append(f.pulls, pr)
	f.mu.Unlock()
	return pr, f.wrote(pr)
}

func (f *demoForge) Update(_ context.Context, number int, title, body string) (pullrequest.PR, error) {
	f.mu.Lock()
	if number < 1 || number > len(f.pulls) {
		f.mu.Unlock()
		return pullrequest.PR{}, fmt.Errorf("pull request #%d: not found", number)
	}
	pr := &f.pulls[number-1]
	pr.Title, pr.Body, pr.UpdatedAt = title, body, time.Now()
	out := *pr
	f.mu.Unlock()
	return out, f.wrote(out)
}

func (f *demoForge) wrote(pr pullrequest.PR) error {
	if err := os.WriteFile(pr.URL, []byte("# "+pr.Title+"\n\n"+pr.Body), 0o600); err != nil {
		return fmt.Errorf("pull request #%d: %w", pr.Number, err)
	}
	if f.opened != nil {
		f.opened(pr)
	}
	return nil
}

// open returns the open pull request titled title, if any.
func (f *demoForge) open(title string) (pullrequest.PR, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, pr := range f.pulls {
		if pr.Title == title && pr.State == pullrequest.StateOpen {
			return pr, true
		}
	}
	return pullrequest.PR{}, false
}

// merge merges pull request number with a merge commit on its base, as a
// reviewer pressing the forge's merge button.
func (f *demoForge) merge(ctx context.Context, number int) (string, error) {
	f.mu.Lock()
	pr := f.pulls[number-1]
	f.mu.Unlock()
	for attempt := 0; ; attempt++ {
		base, err := f.repo.Fetch(ctx)
		if err != nil {
			return "", err
		}
		head, err := f.repo.FetchBranch(ctx, pr.Head)
		if err != nil || head == nil {
			return "", fmt.Errorf("merge #%d: branch %s: %v", number, pr.Head, err)
		}
		// The merge takes the branch's change of its environment's overlay
		// (ferry/<env>/<app>) onto the base's head; the base's other files stay.
		parts := strings.Split(pr.Head, "/")
		if len(parts) != 3 {
			return "", fmt.Errorf("merge #%d: branch %s is not ferry/<env>/<app>", number, pr.Head)
		}
		p := "overlays/" + parts[1] + "/kustomization.yaml"
		data, err := head.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		files := map[string][]byte{p: data}
		msg := fmt.Sprintf("Merge pull request #%d from %s\n\n%s\n", number, pr.Head, pr.Title)
		commit, err := f.repo.CommitMerge(base, []*fleet.Snapshot{head}, files, msg, time.Now())
		if err != nil {
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		if err := f.repo.Push(ctx, commit); err != nil {
			if attempt < 5 {
				continue // ferry pushed meanwhile: merge again on its head
			}
			return "", fmt.Errorf("merge #%d: %w", number, err)
		}
		f.mu.Lock()
		f.pulls[number-1].State, f.pulls[number-1].MergeCommit = pullrequest.StateMerged, commit.Hash()
		f.mu.Unlock()
		return commit.Hash(), nil
	}
}
