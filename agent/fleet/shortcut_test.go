package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// receivePackRequests counts a fixture's ref advertisements for a push
// (GET info/refs?service=git-receive-pack) and its pushes (POST).
type receivePackRequests struct{ adverts, posts atomic.Int32 }

func (c *receivePackRequests) hook(r *http.Request) bool {
	switch {
	case isReceivePack(r):
		c.posts.Add(1)
	case r.Method == http.MethodGet && r.URL.Query().Get("service") == "git-receive-pack":
		c.adverts.Add(1)
	}
	return true
}

// commitPush commits files on parent and pushes the commit.
func commitPush(t *testing.T, r *Repo, parent *Snapshot, files map[string][]byte) (*Snapshot, error) {
	t.Helper()
	s, err := r.Commit(parent, files, "change\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	return s, r.Push(context.Background(), s)
}

// TestPushSkipsAdvertisement: over HTTP, a Repo asks for the remote's refs
// on its first push only; later pushes send the update straight away, and
// the server (which checks every object and the connectivity) takes them.
func TestPushSkipsAdvertisement(t *testing.T) {
	t.Parallel()
	var c receivePackRequests
	f := newFixture(t, seedFiles, gitserver.WithHook(c.hook))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, r)
	for i, v := range []string{"1.1.0", "1.2.0", "1.3.0", "1.4.0"} {
		s, err := commitPush(t, r, head, map[string][]byte{"overlays/dev/kustomization.yaml": bump(v)})
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if got := f.head(t); got != s.Hash() {
			t.Fatalf("push %d: remote at %s, want %s", i, got, s.Hash())
		}
		head = s
	}
	if a, p := c.adverts.Load(), c.posts.Load(); a != 1 || p != 4 {
		t.Fatalf("4 pushes made %d ref advertisements and %d posts, want 1 and 4", a, p)
	}
	git(t, f.bare, "fsck", "--strict")
}

// TestPushShortcutRemoteMoved: a push without the advertisement on a branch
// that moved since is refused by the server and reported as
// ErrNonFastForward; the other writer's commit stays.
func TestPushShortcutRemoteMoved(t *testing.T) {
	t.Parallel()
	var c receivePackRequests
	f := newFixture(t, seedFiles, gitserver.WithHook(c.hook))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head := mustFetch(t, r)
	head, err := commitPush(t, r, head, map[string][]byte{"a": []byte("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	theirs := f.cliPush(t, map[string]string{"theirs": "x\n"}, "another writer")
	_, err = commitPush(t, r, head, map[string][]byte{"b": []byte("b\n")})
	if !errors.Is(err, ErrNonFastForward) {
		t.Fatalf("err = %v, want ErrNonFastForward", err)
	}
	if strings.Contains(err.Error(), "remote:") {
		t.Errorf("err = %q shows the refused shortcut's messages", err)
	}
	if got := f.head(t); got != theirs {
		t.Fatalf("remote at %s, want the other writer's %s", got, theirs)
	}
	// As the caller does: fetch, redo, push.
	s, err := commitPush(t, r, mustFetch(t, r), map[string][]byte{"b": []byte("b\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.head(t); got != s.Hash() {
		t.Fatalf("remote at %s, want %s", got, s.Hash())
	}
	git(t, f.bare, "fsck", "--strict")
}

// TestPushShortcutRemoteRewound: the remote branch was moved back to an
// ancestor of the commit (someone reset it): the shortcut is refused, and
// the push goes through as the fast-forward it is.
func TestPushShortcutRemoteRewound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	r := mustOpen(t, testOptions(t, f.httpURL()))
	seed := mustFetch(t, r)
	a, err := commitPush(t, r, seed, map[string][]byte{"a": []byte("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	git(t, f.bare, "update-ref", "refs/heads/main", seed.Hash(), a.Hash())
	b, err := commitPush(t, r, a, map[string][]byte{"b": []byte("b\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.head(t); got != b.Hash() {
		t.Fatalf("remote at %s, want %s", got, b.Hash())
	}
}

// TestPushShortcutRefusedByHook: a hook's refusal of a push without the
// advertisement is the hook's words, not a moved branch, and the push is
// not sent a second time (the hook runs once).
func TestPushShortcutRefusedByHook(t *testing.T) {
	t.Parallel()
	var c receivePackRequests
	f := newFixture(t, seedFiles, gitserver.WithHook(c.hook))
	runs := filepath.Join(t.TempDir(), "runs")
	closed := filepath.Join(t.TempDir(), "closed")
	script := "#!/bin/sh\ncat >/dev/null\nif [ -e '" + closed + "' ]; then echo run >>'" + runs + "'; echo 'main is frozen for the release' >&2; exit 1; fi\n"
	if err := os.WriteFile(filepath.Join(f.bare, "hooks", "pre-receive"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head, err := commitPush(t, r, mustFetch(t, r), map[string][]byte{"a": []byte("a\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(closed, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = commitPush(t, r, head, map[string][]byte{"b": []byte("b\n")})
	if err == nil || errors.Is(err, ErrNonFastForward) || !strings.Contains(err.Error(), "remote: main is frozen for the release") {
		t.Fatalf("err = %v, want the hook's refusal, not a moved branch", err)
	}
	if n, _ := os.ReadFile(runs); string(n) != "run\n" {
		t.Fatalf("the hook ran %d times for one push", strings.Count(string(n), "run"))
	}
	if got := f.head(t); got != head.Hash() {
		t.Fatalf("remote at %s, want %s", got, head.Hash())
	}
}

// TestPushShortcutServerError: a server error (503) on a push without the
// advertisement is that push's error, after one POST as before (the caller
// retries); the next push goes without the advertisement again.
func TestPushShortcutServerError(t *testing.T) {
	t.Parallel()
	var c receivePackRequests
	var fail atomic.Bool
	f := newFixture(t, seedFiles, gitserver.WithHook(c.hook), gitserver.WithHook(func(r *http.Request) bool {
		return !(isReceivePack(r) && fail.CompareAndSwap(true, false))
	}))
	r := mustOpen(t, testOptions(t, f.httpURL()))
	head, err := commitPush(t, r, mustFetch(t, r), map[string][]byte{"a": []byte("0\n")})
	if err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	posts := c.posts.Load()
	s, err := commitPush(t, r, head, map[string][]byte{"a": []byte("1\n")})
	if err == nil || errors.Is(err, ErrNonFastForward) {
		t.Fatalf("err = %v, want the server's error", err)
	}
	if n := c.posts.Load() - posts; n != 1 {
		t.Fatalf("%d posts for the failed push, want 1", n)
	}
	adverts := c.adverts.Load()
	if err := r.Push(context.Background(), s); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	if got := f.head(t); got != s.Hash() {
		t.Fatalf("remote at %s, want %s", got, s.Hash())
	}
	if c.adverts.Load() != adverts {
		t.Fatal("the retry asked for the refs: the shortcut was given up after one server error")
	}
}

// TestPushShortcutRedirect: a remote URL that redirects (a renamed
// repository) answers the advertisement's GET, which go-git follows, but
// not a POST sent without it: the push goes the advertised way in the same
// Push and lands; after a few such pushes in a row the Repo keeps to it.
func TestPushShortcutRedirect(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	var redirected atomic.Int32
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isReceivePack(r) {
			redirected.Add(1)
		}
		u := f.srv.URL() + strings.Replace(r.URL.Path, "/old.git", "/fleet.git", 1)
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, u, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(old.Close)
	r := mustOpen(t, testOptions(t, old.URL+"/old.git"))
	head := mustFetch(t, r)
	for i := range maxShortcutFailures + 2 {
		before := redirected.Load()
		s, err := commitPush(t, r, head, map[string][]byte{"a": []byte{byte('0' + i), '\n'}})
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if got := f.head(t); got != s.Hash() {
			t.Fatalf("push %d: remote at %s, want %s", i, got, s.Hash())
		}
		// Push 0 asks first; 1..max try without and are redirected; then
		// the Repo asks first again.
		want := int32(0)
		if i >= 1 && i <= maxShortcutFailures {
			want = 1
		}
		if n := redirected.Load() - before; n != want {
			t.Fatalf("push %d: %d posts to the old URL, want %d", i, n, want)
		}
		head = s
	}
}
