package fleet

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// Several local commits go out in one push, with the objects each adds.
func TestPushChain(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"http", "file"} {
		t.Run(transport, func(t *testing.T) {
			f := newFixture(t, seedFiles)
			r := mustOpen(t, testOptions(t, f.transports()[transport]))
			head := mustFetch(t, r)
			steps := []map[string][]byte{
				{"overlays/prod/kustomization.yaml": bump("1.0.0"), "overlays/prod/patches/a.yaml": []byte("a\n")},
				{"overlays/prod/patches/a.yaml": nil, "overlays/qa/kustomization.yaml": bump("1.0.0")},
				{"overlays/dev": []byte("now a file\n"), "ferry.yaml": seedFiles["overlays/qa/kustomization.yaml"]},
			}
			for i, files := range steps {
				s, err := r.Commit(head, files, "step "+strconv.Itoa(i), t0)
				if err != nil {
					t.Fatal(err)
				}
				head = s
			}
			if err := r.Push(context.Background(), head); err != nil {
				t.Fatal(err)
			}
			if got := git(t, f.bare, "log", "--format=%s", "main"); got != "step 2\nstep 1\nstep 0\nseed\n" {
				t.Fatalf("remote log = %q", got)
			}
			git(t, f.bare, "fsck", "--strict", "--no-dangling")
			want := git(t, r.Dir(), "ls-tree", "-r", head.Hash())
			if got := git(t, f.bare, "ls-tree", "-r", "main"); got != want {
				t.Fatalf("remote tree:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestNonFastForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// knows: the local clone has fetched the remote's new commit but
		// commits on the older snapshot anyway.
		knows bool
	}{
		{"remote commit unknown locally", false},
		{"stale parent, remote commit known", true},
	}
	for _, tt := range tests {
		for _, transport := range []string{"http", "file"} {
			t.Run(tt.name+"/"+transport, func(t *testing.T) {
				ctx := context.Background()
				f := newFixture(t, seedFiles)
				r := mustOpen(t, testOptions(t, f.transports()[transport]))
				stale := mustFetch(t, r)
				theirs := f.cliPush(t, map[string]string{"overlays/qa/kustomization.yaml": "by a human\n"}, "manual qa change")
				if tt.knows {
					if got := mustFetch(t, r); got.Hash() != theirs {
						t.Fatalf("fetched %s, want %s", got.Hash(), theirs)
					}
				}
				mine, err := r.Commit(stale, map[string][]byte{"overlays/dev/kustomization.yaml": bump("2.0.0")}, promote("checkout", "dev", "2.0.0"), t0)
				if err != nil {
					t.Fatal(err)
				}
				err = r.Push(ctx, mine)
				if !errors.Is(err, ErrNonFastForward) {
					t.Fatalf("Push onto a moved remote: err = %v, want ErrNonFastForward", err)
				}
				if f.head(t) != theirs {
					t.Fatal("a rejected push changed the remote")
				}

				// The caller's recovery: fetch, redo the change, push.
				head := mustFetch(t, r)
				if head.Hash() != theirs {
					t.Fatalf("Fetch = %s, want %s", head.Hash(), theirs)
				}
				redo, err := r.Commit(head, map[string][]byte{"overlays/dev/kustomization.yaml": bump("2.0.0")}, promote("checkout", "dev", "2.0.0"), t0)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Push(ctx, redo); err != nil {
					t.Fatal(err)
				}
				log := strings.Fields(git(t, f.bare, "log", "--format=%H", "main"))
				if len(log) != 3 || log[0] != redo.Hash() || log[1] != theirs {
					t.Fatalf("remote history = %v, want [%s %s seed]", log, redo.Hash(), theirs)
				}
				if got := git(t, f.bare, "show", "main:overlays/qa/kustomization.yaml"); got != "by a human\n" {
					t.Fatalf("the other writer's change was lost: %q", got)
				}
			})
		}
	}
}

// The server, not go-git, rejects the push: another writer lands between
// go-git's look at the remote refs and the update.
func TestNonFastForwardRace(t *testing.T) {
	t.Parallel()
	var (
		f      *fixture
		fired  atomic.Bool
		theirs atomic.Value
	)
	f = newFixture(t, seedFiles, gitserver.WithHook(func(r *http.Request) bool {
		if isReceivePack(r) && fired.CompareAndSwap(false, true) {
			theirs.Store(f.cliPush(t, map[string]string{"race": "won\n"}, "racing writer"))
		}
		return true
	}))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, r)
	mine, err := r.Commit(head, map[string][]byte{"mine": []byte("lost\n")}, "mine", t0)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Push(context.Background(), mine)
	if !errors.Is(err, ErrNonFastForward) {
		t.Fatalf("err = %v, want ErrNonFastForward", err)
	}
	if f.head(t) != theirs.Load() {
		t.Fatalf("remote = %s, want the racing writer's %s", f.head(t), theirs.Load())
	}
}

// A push the server fails for another reason is not a non-fast-forward.
func TestPushServerError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles, gitserver.WithHook(func(r *http.Request) bool { return !isReceivePack(r) }))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, r)
	s, err := r.Commit(head, map[string][]byte{"x": []byte("x")}, "x", t0)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Push(context.Background(), s)
	if err == nil || errors.Is(err, ErrNonFastForward) {
		t.Fatalf("err = %v, want a failure that is not ErrNonFastForward", err)
	}
	if !strings.Contains(err.Error(), f.httpURL()) {
		t.Errorf("error %q does not name the remote", err)
	}
}
