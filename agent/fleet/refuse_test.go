package fleet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPushRefusedByHook (issue 18 item 17): a push the server's
// pre-receive hook refuses fails with the hook's own words, whatever the
// transport, is not taken for a moved branch, and changes nothing.
func TestPushRefusedByHook(t *testing.T) {
	for _, tc := range []struct {
		name string
		hook string // what the hook prints on stderr before it exits 1
		want []string
	}{
		{"one line", "main is protected: open a pull request (ticket OPS-42)",
			[]string{"main is protected: open a pull request (ticket OPS-42)"}},
		{"two lines", "refused by policy check\nsee https://wiki.example/fleet-rules",
			[]string{"refused by policy check", "https://wiki.example/fleet-rules"}},
	} {
		f := newFixture(t, seedFiles)
		script := "#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' '" + strings.ReplaceAll(tc.hook, "\n", "' '") + "' >&2\nexit 1\n"
		if err := os.WriteFile(filepath.Join(f.bare, "hooks", "pre-receive"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		for transport, url := range f.transports() {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				r := mustOpen(t, testOptions(t, url))
				head := mustFetch(t, r)
				s, err := r.Commit(head, map[string][]byte{"x": []byte("x\n")}, "x\n", t0)
				if err != nil {
					t.Fatal(err)
				}
				err = r.Push(context.Background(), s)
				if err == nil {
					t.Fatal("the hook's refusal was taken for success")
				}
				if errors.Is(err, ErrNonFastForward) {
					t.Fatalf("err = %v: a refusal is taken for a moved branch (it would be retried)", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %q lacks the remote's message %q", err, w)
					}
				}
				if f.head(t) != head.Hash() {
					t.Fatal("the refused push moved the branch")
				}
			})
		}
	}
}

// TestMemoryRemoteRefusal: the in-memory remote's pre-receive check
// reaches the pusher the same way.
func TestMemoryRemoteRefusal(t *testing.T) {
	m := NewMemoryRemote("refuse-test")
	o := testOptions(t, m.URL())
	o.InMemory, o.Dir = true, ""
	r := mustOpen(t, o)
	seed, err := r.Commit(nil, seedFiles, "seed\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	m.SetRefuse(func(ref string) error { return errors.New("read-only for maintenance until 18:00") })
	s, err := r.Commit(seed, map[string][]byte{"x": []byte("x\n")}, "x\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Push(context.Background(), s)
	if err == nil || errors.Is(err, ErrNonFastForward) || !strings.Contains(err.Error(), "read-only for maintenance until 18:00") {
		t.Fatalf("err = %v, want the refusal's message", err)
	}
	if m.Head("refs/heads/main") != seed.Hash() {
		t.Fatal("the refused push moved the branch")
	}
}

// TestOpenRemovesTempPacks (issue 18 item 21): a fetch killed mid-way
// leaves temporary pack files in the clone; Open removes them (nothing
// refers to them) and keeps everything else, and the clone still works.
func TestOpenRemovesTempPacks(t *testing.T) {
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.fileURL())
	r := mustOpen(t, o)
	first := mustFetch(t, r)
	packDir := filepath.Join(o.Dir, "objects", "pack")
	before, err := os.ReadDir(packDir)
	if err != nil {
		t.Fatal(err)
	}
	leftovers := []string{"tmp_obj_1234567890", "tmp_pack_abcdef", "tmp_obj_"}
	for _, n := range leftovers {
		if err := os.WriteFile(filepath.Join(packDir, n), []byte("PACK\x00\x00\x00\x02 truncated"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(packDir, "notes.txt") // not ferry's to remove
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	theirs := f.cliPush(t, map[string]string{"overlays/dev/kustomization.yaml": "images:\n- name: checkout\n  newTag: 2.0.0\n"}, "bump")
	r = mustOpen(t, o)
	for _, n := range leftovers {
		if _, err := os.Stat(filepath.Join(packDir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there (%v)", n, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Open removed a file that is not a temporary pack: %v", err)
	}
	for _, e := range before {
		if _, err := os.Stat(filepath.Join(packDir, e.Name())); err != nil {
			t.Errorf("Open removed the clone's own %s: %v", e.Name(), err)
		}
	}
	head := mustFetch(t, r)
	if head.Hash() != theirs {
		t.Fatalf("after Open the clone fetched %s, want %s", head.Hash(), theirs)
	}
	if _, err := r.Snapshot(first.Hash()); err != nil {
		t.Fatalf("the old commit is unreadable: %v", err)
	}
	if data, err := head.ReadFile("overlays/dev/kustomization.yaml"); err != nil || !strings.Contains(string(data), "2.0.0") {
		t.Fatalf("read after Open: %q, %v", data, err)
	}
}

// TestMemoryRemoteConcurrentSessions: two clones of one in-memory remote,
// one pushing while the other fetches, as two replicas (or a replica and
// a person) would. Run it with -race.
func TestMemoryRemoteConcurrentSessions(t *testing.T) {
	m := NewMemoryRemote("concurrent-test")
	open := func() *Repo {
		o := testOptions(t, m.URL())
		o.InMemory, o.Dir = true, ""
		return mustOpen(t, o)
	}
	writer, reader := open(), open()
	head, err := writer.Commit(nil, seedFiles, "seed\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := writer.Push(context.Background(), head); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20 {
			next, err := writer.Commit(head, map[string][]byte{"n": []byte(strings.Repeat("x", i+1))}, "n\n", t0)
			if err != nil {
				t.Error(err)
				return
			}
			if err := writer.Push(context.Background(), next); err != nil {
				t.Error(err)
				return
			}
			head = next
		}
	}()
	for range 20 {
		if _, err := reader.Fetch(context.Background()); err != nil {
			t.Error(err)
		}
	}
	<-done
}
