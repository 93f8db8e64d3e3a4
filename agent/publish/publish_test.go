package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/fleet/fleettest"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// These tests run the publisher against a real git remote: fleet's
// in-memory one, whose reference updates are compare-and-swap as
// receive-pack does them, reached through go-git's transport like any
// other remote.

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// newRemote makes a remote whose main holds files, pushed by a person.
func newRemote(t *testing.T, files map[string]string) *fleet.MemoryRemote {
	t.Helper()
	m := fleettest.Remote(t, "publish-test")
	seed := map[string][]byte{}
	for p, c := range files {
		seed[p] = []byte(c)
	}
	fleettest.Push(t, open(t, m, "person"), seed, "seed\n", t0)
	return m
}

// open is a clone of m: each writer (a replica, a person) has its own.
func open(t *testing.T, m *fleet.MemoryRemote, who string) *fleet.Repo {
	t.Helper()
	return fleettest.Clone(t, m, who)
}

func newPublisher(repo Repo, attempts int) *Publisher {
	return New(repo, Options{Attempts: attempts, Backoff: time.Millisecond, Now: func() time.Time { return t0 }})
}

// history is the remote's main, newest first, as subjects, read by a
// fresh clone.
func history(t *testing.T, m *fleet.MemoryRemote) []string {
	t.Helper()
	r := open(t, m, "reader")
	head, err := r.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	err = r.Log(context.Background(), head, func(c fleet.Commit) (bool, error) {
		out = append(out, strings.SplitN(c.Message, "\n", 2)[0])
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readHead(t *testing.T, m *fleet.MemoryRemote, name string) string {
	t.Helper()
	head, err := open(t, m, "reader").Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, err := head.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// appendLine is a change that reads file on the head it is given and adds
// line to it: applied on a stale head it would lose the other writer's line.
func appendLine(file, line, subject string, seen *[]string) Change {
	return func(_ context.Context, head *fleet.Snapshot) ([]Edit, error) {
		*seen = append(*seen, head.Hash())
		old, err := head.ReadFile(file)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return []Edit{{Files: map[string][]byte{file: append(old, line+"\n"...)},
			Record: &ledger.Change{Msg: ledger.Message{Subject: subject}}}}, nil
	}
}

// TestPublishRace: while ours is being pushed, other writers (replicas with
// their own clones) land theirs; ours is applied again on each new head
// and every commit lands, in order, without a force push.
func TestPublishRace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rivals int    // rival commits that land under our pushes, one per push
		file   string // the file the rivals change; ours changes "log"
	}{
		{"one rival, same file", 1, "log"},
		{"one rival, other file", 1, "other"},
		{"three rivals in a row, same file", 3, "log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newRemote(t, map[string]string{"log": "seed\n"})
			ours := newPublisher(open(t, m, "ours"), 5)
			theirs := newPublisher(open(t, m, "theirs"), 5)
			var inRival atomic.Bool
			landed := 0
			var rivalSeen []string
			m.SetBeforePush(func() {
				// Each of our pushes first lets one rival land (the
				// rival's own push passes through here too).
				if landed >= tc.rivals || !inRival.CompareAndSwap(false, true) {
					return
				}
				defer inRival.Store(false)
				landed++
				if _, err := theirs.Publish(ctx, "rival", false, appendLine(tc.file, fmt.Sprintf("rival %d", landed), fmt.Sprintf("rival %d", landed), &rivalSeen)); err != nil {
					t.Errorf("rival %d: %v", landed, err)
				}
			})
			var seen []string
			res, err := ours.Publish(ctx, "ours", false, appendLine("log", "ours", "ours", &seen))
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != tc.rivals+1 || len(seen) != tc.rivals+1 {
				t.Fatalf("attempts = %d, change applied %d times; want %d", res.Attempts, len(seen), tc.rivals+1)
			}
			if len(slices.Compact(slices.Clone(seen))) != len(seen) {
				t.Fatalf("the change was applied twice on one head: %v", seen)
			}
			want := []string{"ours"}
			for i := tc.rivals; i >= 1; i-- {
				want = append(want, fmt.Sprintf("rival %d", i))
			}
			want = append(want, "seed")
			if got := history(t, m); !slices.Equal(got, want) {
				t.Fatalf("remote history %v, want %v", got, want)
			}
			if len(res.Commits) != 1 || m.Head("refs/heads/main") != res.Head.Hash() || res.Commits[0].Hash() != res.Head.Hash() {
				t.Fatalf("result %+v does not name the remote head %s", res, m.Head("refs/heads/main"))
			}
			// Ours was built on what the rivals wrote, not on the head it first saw.
			log := readHead(t, m, "log")
			if !strings.HasSuffix(log, "ours\n") {
				t.Fatalf("log = %q", log)
			}
			for i := 1; i <= tc.rivals; i++ {
				line := fmt.Sprintf("rival %d\n", i)
				if !strings.Contains(log+readHead(t, m, "other"), line) {
					t.Fatalf("a rival's change was lost: log %q, other %q", log, readHead(t, m, "other"))
				}
			}
		})
	}
}

// TestPublishGivesUp: a branch that moves under every push exhausts the
// attempts; the error says so and wraps fleet.ErrNonFastForward, and
// nothing of ours landed while every rival did.
func TestPublishGivesUp(t *testing.T) {
	for _, attempts := range []int{1, 3} {
		t.Run(fmt.Sprint(attempts), func(t *testing.T) {
			ctx := context.Background()
			m := newRemote(t, map[string]string{"log": "seed\n"})
			ours := newPublisher(open(t, m, "ours"), attempts)
			rival := open(t, m, "rival")
			rivals := 0
			var inRival atomic.Bool
			m.SetBeforePush(func() {
				// Every push of ours lets a person's commit land first.
				if !inRival.CompareAndSwap(false, true) {
					return // the rival's own push
				}
				defer inRival.Store(false)
				head, err := rival.Fetch(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				rivals++
				s, err := rival.Commit(head, map[string][]byte{"other": []byte(fmt.Sprint(rivals))}, fmt.Sprintf("rival %d\n", rivals), t0)
				if err != nil {
					t.Error(err)
					return
				}
				if err := rival.Push(ctx, s); err != nil {
					t.Error(err)
				}
			})
			var seen []string
			_, err := ours.Publish(ctx, "ours", false, appendLine("log", "ours", "ours", &seen))
			if err == nil {
				t.Fatal("publish succeeded on a branch that moved under every push")
			}
			if !errors.Is(err, fleet.ErrNonFastForward) || IsTerminal(err) {
				t.Fatalf("err = %v; want one wrapping fleet.ErrNonFastForward, not terminal", err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("gave up after %d attempts", attempts)) {
				t.Fatalf("err = %v does not say how many attempts", err)
			}
			if len(seen) != attempts {
				t.Fatalf("the change ran %d times, want %d", len(seen), attempts)
			}
			got := history(t, m)
			if slices.Contains(got, "ours") || len(got) != attempts+1 {
				t.Fatalf("remote history %v: want %d rivals and seed, none of ours", got, attempts)
			}
		})
	}
}

var errBroken = errors.New("the overlay does not build")

// TestPublishErrors: what stops a transaction at once, and which of those
// errors IsTerminal reports (the alert handler retries only the others).
// Nothing is pushed in any case.
func TestPublishErrors(t *testing.T) {
	subject := func(s string) ledger.Record { return &ledger.Change{Msg: ledger.Message{Subject: s}} }
	for _, tc := range []struct {
		name     string
		change   Change
		refuse   bool  // the remote refuses pushes (a pre-receive hook)
		is       error // errors.Is(err, is) must hold when set
		terminal bool
		inErr    string
	}{
		{name: "terminal change error", terminal: true, is: errBroken, inErr: errBroken.Error(),
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) {
				return nil, Terminal(fmt.Errorf("bump: %w", errBroken))
			}},
		{name: "terminal error wrapped again", terminal: true, is: errBroken,
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) {
				return nil, fmt.Errorf("promote: %w", Terminal(errBroken))
			}},
		{name: "plain change error", terminal: false, is: errBroken,
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) { return nil, errBroken }},
		{name: "record that cannot be written", terminal: true, inErr: "line break",
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) {
				return []Edit{{Files: map[string][]byte{"x": []byte("x")}, Record: subject("two\nlines")}}, nil
			}},
		{name: "path outside the tree", terminal: true, inErr: "../x",
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) {
				return []Edit{{Files: map[string][]byte{"../x": []byte("x")}, Record: subject("escape")}}, nil
			}},
		{name: "push refused by the remote", terminal: false, refuse: true, inErr: "maintenance",
			change: func(context.Context, *fleet.Snapshot) ([]Edit, error) {
				return []Edit{{Files: map[string][]byte{"x": []byte("x")}, Record: subject("x")}}, nil
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newRemote(t, map[string]string{"log": "seed\n"})
			if tc.refuse {
				m.SetRefuse(func(string) error { return errors.New("read-only for maintenance") })
			}
			before := m.Head("refs/heads/main")
			calls := 0
			res, err := newPublisher(open(t, m, "ferry"), 5).Publish(context.Background(), "test", false,
				func(ctx context.Context, head *fleet.Snapshot) ([]Edit, error) {
					calls++
					return tc.change(ctx, head)
				})
			if err == nil {
				t.Fatal("no error")
			}
			if calls != 1 || res.Attempts != 1 {
				t.Fatalf("the change ran %d times in %d attempts; an error must stop the transaction at once", calls, res.Attempts)
			}
			if IsTerminal(err) != tc.terminal {
				t.Fatalf("IsTerminal(%v) = %v, want %v", err, IsTerminal(err), tc.terminal)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("err = %v does not say %q", err, tc.inErr)
			}
			if errors.Is(err, fleet.ErrNonFastForward) {
				t.Fatalf("err = %v is taken for a moved branch", err)
			}
			if m.Head("refs/heads/main") != before {
				t.Fatal("something was pushed")
			}
		})
	}
	if Terminal(nil) != nil {
		t.Fatal("Terminal(nil) is an error")
	}
}

// waitAcquiring waits until n goroutines wait for the writer's turn. It
// reads the goroutines' stacks: the publisher has no hook there, and a
// test that only slept could not tell "not there yet" from "overtaken".
func waitAcquiring(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(time.Minute)
	for {
		k := runtime.Stack(buf, true)
		if got := strings.Count(string(buf[:k]), "publish.(*Publisher).acquire("); got == n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%d goroutines wait for the writer's turn, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestUrgentOvertakes: while one transaction holds the writer's turn (its
// change blocks), ordinary transactions and then urgent ones line up; the
// urgent ones (rollbacks) go first when the turn is free.
func TestUrgentOvertakes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		arrivals []string // in order; "u" urgent, "o" ordinary Publish, "x" Exclusive, "n" Note
		first    []string // the writers that must run before any other, in any order
	}{
		{"one rollback before two promotions", []string{"o1", "o2", "u1"}, []string{"u1"}},
		{"rollbacks before every promotion", []string{"o1", "u1", "o2", "u2"}, []string{"u1", "u2"}},
		{"a rollback before a read and a verdict note", []string{"x1", "n1", "u1"}, []string{"u1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newRemote(t, map[string]string{"log": "seed\n"})
			repo := open(t, m, "ferry")
			p := newPublisher(repo, 5)
			commit := m.Head("refs/heads/main")
			var mu sync.Mutex
			var order []string
			ran := func(name string) {
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
			}
			change := func(name string) Change {
				return func(context.Context, *fleet.Snapshot) ([]Edit, error) {
					ran(name)
					return nil, nil
				}
			}
			holding, release := make(chan struct{}), make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				_, err := p.Publish(ctx, "holder", false, func(context.Context, *fleet.Snapshot) ([]Edit, error) {
					close(holding)
					<-release
					return nil, nil
				})
				if err != nil {
					t.Error(err)
				}
			})
			<-holding
			for i, name := range tc.arrivals {
				wg.Go(func() {
					var err error
					switch name[0] {
					case 'u', 'o':
						_, err = p.Publish(ctx, name, name[0] == 'u', change(name))
					case 'x':
						err = p.Exclusive(func() error { ran(name); return nil })
					case 'n':
						err = p.Note(ctx, commit, func(n ledger.Note) (ledger.Note, bool) { ran(name); return n, false })
					}
					if err != nil {
						t.Error(name, err)
					}
				})
				waitAcquiring(t, i+1)
			}
			close(release)
			wg.Wait()
			if len(order) != len(tc.arrivals) {
				t.Fatalf("ran %v, want all of %v", order, tc.arrivals)
			}
			if got := slices.Sorted(slices.Values(order[:len(tc.first)])); !slices.Equal(got, tc.first) {
				t.Fatalf("order %v: want %v first", order, tc.first)
			}
		})
	}
}

func verdict(env, result string) ledger.Verdict {
	return ledger.Verdict{App: "checkout", Env: env, Version: ledger.Version{Tag: "1.2.0"}, Analysis: "smoke", Verdict: result, Reason: "test"}
}

// readNote is the note on commit, read by a fresh clone.
func readNote(t *testing.T, m *fleet.MemoryRemote, commit string) ledger.Note {
	t.Helper()
	notes, err := open(t, m, "reader").FetchNotes(context.Background(), ledger.NotesRef)
	if err != nil {
		t.Fatal(err)
	}
	text, _, err := notes.Get(commit)
	if err != nil {
		t.Fatal(err)
	}
	return ledger.ParseNote(text)
}

func envsOf(n ledger.Note) []string {
	var out []string
	for _, v := range n.Verdicts {
		out = append(out, v.Env+"="+v.Verdict)
	}
	slices.Sort(out)
	return out
}

// TestNoteKeepsEveryVerdict (issue 17: "two verdicts on one commit
// overwrite each other"): two replicas, each with its own clone, add
// verdicts to one commit's note at the same time. The second to push
// finds the notes ref moved, reads the other's verdict and keeps it.
func TestNoteKeepsEveryVerdict(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ours, their ledger.Verdict
		want        []string
	}{
		{"two environments", verdict("qa", ledger.Successful), verdict("prod", ledger.Failed), []string{"prod=Failed", "qa=Successful"}},
		// The same run judged again replaces its verdict rather than adding one.
		{"one run judged twice", verdict("qa", ledger.Successful), verdict("qa", ledger.Inconclusive), []string{"qa=Successful"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newRemote(t, map[string]string{"log": "seed\n"})
			commit := m.Head("refs/heads/main")
			ours := newPublisher(open(t, m, "replica-1"), 5)
			theirs := newPublisher(open(t, m, "replica-2"), 5)
			var fired atomic.Bool
			m.SetBeforePush(func() {
				if fired.CompareAndSwap(false, true) {
					// Lands between our read of the note and our push.
					if err := theirs.Note(ctx, commit, func(n ledger.Note) (ledger.Note, bool) { return n.With(tc.their), true }); err != nil {
						t.Error(err)
					}
				}
			})
			edits := 0
			err := ours.Note(ctx, commit, func(n ledger.Note) (ledger.Note, bool) {
				edits++
				return n.With(tc.ours), true
			})
			if err != nil {
				t.Fatal(err)
			}
			if edits != 2 {
				t.Fatalf("our edit ran %d times; the race did not happen", edits)
			}
			if got := envsOf(readNote(t, m, commit)); !slices.Equal(got, tc.want) {
				t.Fatalf("note holds %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNoteConcurrentWriters: several replicas record verdicts for their
// environments on one commit at once, scheduled by the Go runtime, against
// git's own receive-pack (git http-backend on 127.0.0.1; the in-memory
// remote is not safe for concurrent sessions). git reports a lost race for
// the notes ref as "failed to update ref", not as a non-fast-forward.
func TestNoteConcurrentWriters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exists bool // an earlier verdict (dr's) exists, so the notes ref does
	}{
		{"the writers create the notes ref", false},
		{"the notes ref exists", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			bare, err := gitserver.InitBare(root, "fleet.git")
			if err != nil {
				t.Fatal(err)
			}
			if err := gitserver.Seed(bare, map[string][]byte{"log": []byte("seed\n")}, "seed"); err != nil {
				t.Fatal(err)
			}
			if tc.exists {
				if _, err := gitserver.Git(ctx, bare, "notes", "--ref", ledger.NotesRef, "add", "-m", ledger.Note{}.With(verdict("dr", ledger.Failed)).String(), "main"); err != nil {
					t.Fatal(err)
				}
			}
			srv, err := gitserver.Start(root)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.Close)
			envs := []string{"dev", "qa", "ppd", "prod"}
			pubs := make([]*Publisher, len(envs))
			var commit string
			for i := range envs {
				r, err := fleet.Open(ctx, fleet.Options{URL: srv.RepoURL("fleet.git"), Dir: filepath.Join(t.TempDir(), "clone"),
					Author: fleet.Signature{Name: "ferry", Email: "ferry@example.com"}, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				head, err := r.Fetch(ctx)
				if err != nil {
					t.Fatal(err)
				}
				commit = head.Hash()
				pubs[i] = newPublisher(r, 50)
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i, env := range envs {
				wg.Go(func() {
					<-start
					err := pubs[i].Note(ctx, commit, func(n ledger.Note) (ledger.Note, bool) { return n.With(verdict(env, ledger.Successful)), true })
					if err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()
			text, err := gitserver.Git(ctx, bare, "notes", "--ref", ledger.NotesRef, "show", commit)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"dev=Successful", "ppd=Successful", "prod=Successful", "qa=Successful"}
			if tc.exists {
				want = append(want, "dr=Failed")
				slices.Sort(want)
			}
			if got := envsOf(ledger.ParseNote(text)); !slices.Equal(got, want) {
				t.Fatalf("note holds %v, want %v:\n%s", got, want, text)
			}
		})
	}
}
