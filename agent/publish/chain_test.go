package publish

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// rivalOnPush lands a person's commit (to file) before each of the first
// n pushes of ours; it returns how many landed.
func rivalOnPush(t *testing.T, m *fleet.MemoryRemote, file string, n int) *atomic.Int32 {
	t.Helper()
	ctx := context.Background()
	rival := open(t, m, "rival")
	var landed atomic.Int32
	var inRival atomic.Bool
	m.SetBeforePush(func() {
		if int(landed.Load()) >= n || !inRival.CompareAndSwap(false, true) {
			return // done, or the rival's own push
		}
		defer inRival.Store(false)
		head, err := rival.Fetch(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		old, _ := head.ReadFile(file)
		i := landed.Add(1)
		s, err := rival.Commit(head, map[string][]byte{file: append(old, fmt.Sprintf("rival %d\n", i)...)}, fmt.Sprintf("rival %d\n", i), t0)
		if err != nil {
			t.Error(err)
			return
		}
		if err := rival.Push(ctx, s); err != nil {
			t.Error(err)
		}
	})
	return &landed
}

// countPushes counts the pushes that reach m (ours and a rival's).
func countPushes(m *fleet.MemoryRemote) *atomic.Int32 {
	var n atomic.Int32
	m.SetBeforePush(func() { n.Add(1) })
	return &n
}

// TestChainOnePush: a chain of links is one push, and each link is its
// own commit on the remote, in the order added, with its own record.
func TestChainOnePush(t *testing.T) {
	ctx := context.Background()
	m := newRemote(t, map[string]string{"log": "seed\n"})
	repo := open(t, m, "ours")
	head, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pushes := countPushes(m)
	p := newPublisher(repo, 5)
	c := p.Chain(head)
	var seen []string
	for _, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
		commits, err := c.Add(ctx, env, appendLine("log", env, "promote to "+env, &seen))
		if err != nil || len(commits) != 1 {
			t.Fatalf("add %s: %v %v", env, commits, err)
		}
		if c.Tip() != commits[0] {
			t.Fatalf("tip is not the link's commit")
		}
	}
	if got := history(t, m); !slices.Equal(got, []string{"seed"}) {
		t.Fatalf("added links reached the remote before Push: %v", got)
	}
	res, err := c.Push(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pushes.Load() != 1 || res.Attempts != 1 {
		t.Fatalf("%d pushes, %d attempts; want 1", pushes.Load(), res.Attempts)
	}
	want := []string{"promote to dr", "promote to prod", "promote to ppd", "promote to qa", "promote to dev", "seed"}
	if got := history(t, m); !slices.Equal(got, want) {
		t.Fatalf("remote history %v, want %v", got, want)
	}
	if res.Head.Hash() != m.Head("refs/heads/main") || len(res.Links) != 5 || res.Links[4][0] != res.Head {
		t.Fatalf("result %+v does not end at the remote head", res)
	}
	// Each link was decided on the one before it: the file has every line.
	if got := readHead(t, m, "log"); got != "seed\ndev\nqa\nppd\nprod\ndr\n" {
		t.Fatalf("log = %q", got)
	}
}

// TestChainUnpushedIsNothing: links added but never pushed (a crash, a
// Push that gave up) leave the branch as it was: the next transaction on
// the same clone builds on the remote's head, and none of the chain's
// commits ever reach the remote.
func TestChainUnpushedIsNothing(t *testing.T) {
	ctx := context.Background()
	m := newRemote(t, map[string]string{"log": "seed\n"})
	repo := open(t, m, "ours")
	head, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(repo, 5)
	c := p.Chain(head)
	var seen []string
	for _, env := range []string{"dev", "qa"} {
		if _, err := c.Add(ctx, env, appendLine("log", env, "promote to "+env, &seen)); err != nil {
			t.Fatal(err)
		}
	}
	// The chain is dropped here. A new publisher on the same clone (the
	// agent restarted) writes something else.
	if _, err := newPublisher(repo, 5).Publish(ctx, "other", false, appendLine("log", "other", "other", &seen)); err != nil {
		t.Fatal(err)
	}
	if got := history(t, m); !slices.Equal(got, []string{"other", "seed"}) {
		t.Fatalf("remote history %v, want the other change on the seed only", got)
	}
	if got := readHead(t, m, "log"); got != "seed\nother\n" {
		t.Fatalf("log = %q", got)
	}
}

// TestChainMovedBranch: a person's commit lands before the chain's push.
// Every link is applied again, in order, on the new head and pushed once
// more: each lands exactly once, after the person's commit, nothing is
// lost and nothing forced. A link that finds nothing to do on the new
// head (its inputs moved) is dropped and the links after it decide
// without it; one that fails says why.
func TestChainMovedBranch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		rivals  int
		drop    string // the link that finds nothing to do on a new head
		fail    string // the link that fails on a new head
		want    []string
		wantLog string
	}{
		{"one rival", 1, "", "", []string{"promote to ppd", "promote to qa", "promote to dev", "rival 1", "seed"}, "seed\nrival 1\ndev\nqa\nppd\n"},
		{"two rivals", 2, "", "", []string{"promote to ppd", "promote to qa", "promote to dev", "rival 2", "rival 1", "seed"}, "seed\nrival 1\nrival 2\ndev\nqa\nppd\n"},
		{"qa stale on the new head", 1, "qa", "", []string{"promote to ppd", "promote to dev", "rival 1", "seed"}, "seed\nrival 1\ndev\nppd\n"},
		{"qa fails on the new head", 1, "", "qa", []string{"promote to ppd", "promote to dev", "rival 1", "seed"}, "seed\nrival 1\ndev\nppd\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newRemote(t, map[string]string{"log": "seed\n"})
			repo := open(t, m, "ours")
			head, err := repo.Fetch(ctx)
			if err != nil {
				t.Fatal(err)
			}
			p := newPublisher(repo, 5)
			c := p.Chain(head)
			applied := map[string][]string{}
			for _, env := range []string{"dev", "qa", "ppd"} {
				var seen []string
				inner := appendLine("log", env, "promote to "+env, &seen)
				first := head.Hash()
				change := func(ctx context.Context, h *fleet.Snapshot) ([]Edit, error) {
					applied[env] = append(applied[env], h.Hash())
					if len(applied[env]) > 1 && h.Hash() != first {
						switch env {
						case tc.drop:
							return nil, nil
						case tc.fail:
							return nil, errBroken
						}
					}
					return inner(ctx, h)
				}
				if _, err := c.Add(ctx, env, change); err != nil {
					t.Fatal(err)
				}
				first = c.Tip().Hash()
			}
			landed := rivalOnPush(t, m, "log", tc.rivals)
			res, err := c.Push(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if int(landed.Load()) != tc.rivals || res.Attempts != tc.rivals+1 {
				t.Fatalf("%d rivals landed, %d attempts; want %d, %d", landed.Load(), res.Attempts, tc.rivals, tc.rivals+1)
			}
			if got := history(t, m); !slices.Equal(got, tc.want) {
				t.Fatalf("remote history %v, want %v", got, tc.want)
			}
			if got := readHead(t, m, "log"); got != tc.wantLog {
				t.Fatalf("log = %q, want %q", got, tc.wantLog)
			}
			for i, env := range []string{"dev", "qa", "ppd"} {
				dropped := env == tc.drop || env == tc.fail
				if (res.Links[i] == nil) != dropped {
					t.Errorf("%s: pushed %v, want dropped %v", env, res.Links[i], dropped)
				}
				if (res.Errs[i] != nil) != (env == tc.fail) || (env == tc.fail && !errors.Is(res.Errs[i], errBroken)) {
					t.Errorf("%s: err %v", env, res.Errs[i])
				}
				if len(slices.Compact(slices.Clone(applied[env]))) != len(applied[env]) {
					t.Errorf("%s applied twice on one head: %v", env, applied[env])
				}
			}
			if res.Head.Hash() != m.Head("refs/heads/main") {
				t.Fatalf("result head %s, remote %s", res.Head.Hash(), m.Head("refs/heads/main"))
			}
		})
	}
}

// TestChainGivesUp: a branch that moves under every push exhausts the
// attempts; the error wraps fleet.ErrNonFastForward and none of the
// chain's commits landed.
func TestChainGivesUp(t *testing.T) {
	ctx := context.Background()
	m := newRemote(t, map[string]string{"log": "seed\n"})
	repo := open(t, m, "ours")
	head, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := newPublisher(repo, 2)
	c := p.Chain(head)
	var seen []string
	for _, env := range []string{"dev", "qa"} {
		if _, err := c.Add(ctx, env, appendLine("log", env, "promote to "+env, &seen)); err != nil {
			t.Fatal(err)
		}
	}
	rivalOnPush(t, m, "other", 100)
	res, err := c.Push(ctx)
	if !errors.Is(err, fleet.ErrNonFastForward) {
		t.Fatalf("err = %v, want fleet.ErrNonFastForward", err)
	}
	for _, s := range history(t, m) {
		if s == "promote to dev" || s == "promote to qa" {
			t.Fatalf("a commit of the failed chain landed: %v", history(t, m))
		}
	}
	for i, l := range res.Links {
		if l != nil {
			t.Fatalf("link %d reported pushed after a failed push", i)
		}
	}
}

// TestPublishOnStaleHead: PublishOn on a head the branch has left costs
// one refused push; the change is applied again on the fetched head, and
// lands there once. A change that finds nothing to do on the given head
// is asked again on a fetched one: only a landed push trusts that head.
func TestPublishOnStaleHead(t *testing.T) {
	ctx := context.Background()
	m := newRemote(t, map[string]string{"log": "seed\n"})
	repo := open(t, m, "ours")
	stale, err := repo.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var theirs []string
	if _, err := newPublisher(open(t, m, "theirs"), 5).Publish(ctx, "theirs", false, appendLine("log", "theirs", "theirs", &theirs)); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(repo, 5)
	var seen []string
	res, err := p.PublishOn(ctx, "ours", false, stale, appendLine("log", "ours", "ours", &seen))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != stale.Hash() || seen[1] == stale.Hash() || res.Attempts != 1 {
		t.Fatalf("applied on %v (%d attempts); want the given head, then the fetched one", seen, res.Attempts)
	}
	if got := readHead(t, m, "log"); got != "seed\ntheirs\nours\n" {
		t.Fatalf("log = %q", got)
	}

	// Nothing to do on the given head: asked again on the remote's.
	var heads []string
	_, err = p.PublishOn(ctx, "only on the new head", false, stale, func(_ context.Context, h *fleet.Snapshot) ([]Edit, error) {
		heads = append(heads, h.Hash())
		if h.Hash() == stale.Hash() {
			return nil, nil
		}
		return []Edit{{Files: map[string][]byte{"new": []byte("x\n")}, Record: &ledger.Change{Msg: ledger.Message{Subject: "new"}}}}, nil
	})
	if err != nil || len(heads) != 2 || readHead(t, m, "new") != "x\n" {
		t.Fatalf("err %v, heads %v, new %q", err, heads, readHead(t, m, "new"))
	}
}
