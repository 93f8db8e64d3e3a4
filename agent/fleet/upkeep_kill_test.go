package fleet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUpkeepKilled: the agent process is killed (SIGKILL) during a repack,
// at each of its steps; the clone it leaves opens, still holds every
// commit (including ones never pushed), passes git fsck, and the next
// Fetch repacks it.
func TestUpkeepKilled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.fileURL())
	r := mustOpen(t, o)
	head := mustFetch(t, r)
	// Commits that were never pushed: only their loose objects hold them.
	var hashes []string
	for i := range testLooseLimit/3 + 20 {
		s, err := r.Commit(head, map[string][]byte{"f": bump(fmt.Sprint(i))}, "c\n", t0)
		if err != nil {
			t.Fatal(err)
		}
		head = s
		hashes = append(hashes, s.Hash())
	}
	for _, at := range []string{"write", "delete packs", "delete loose"} {
		t.Run(strings.ReplaceAll(at, " ", "-"), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone.git")
			if out, err := exec.Command("cp", "-a", r.Dir(), dir).CombinedOutput(); err != nil {
				t.Fatalf("copy clone: %v: %s", err, out)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestUpkeepKillHelper$", "-test.v")
			cmd.Env = append(os.Environ(), "FERRY_UPKEEP_HELPER="+dir+"\n"+f.fileURL()+"\n"+at)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			reached := false
			for sc.Scan() {
				if sc.Text() == "upkeep step "+at {
					reached = true
					_ = cmd.Process.Kill()
					break
				}
			}
			_ = cmd.Wait()
			if !reached {
				t.Fatalf("the helper never reached %q", at)
			}
			o := testOptions(t, f.fileURL())
			o.Dir = dir
			r2 := mustOpen(t, o)
			r2.looseLimit = testLooseLimit
			for i, h := range hashes {
				s, err := r2.Snapshot(h)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := s.ReadFile("f"); err != nil || string(got) != string(bump(fmt.Sprint(i))) {
					t.Fatalf("commit %d: f = %q, %v", i, got, err)
				}
			}
			git(t, dir, "fsck", "--strict", "--no-dangling")
			mustFetch(t, r2)
			// A kill among the deletions may leave fewer than the limit.
			if loose, packs := objectFiles(t, dir); loose >= testLooseLimit || packs > 2 {
				t.Fatalf("after the next Fetch: %d loose objects and %d packs, want them packed", loose, packs)
			}
			git(t, dir, "fsck", "--strict", "--no-dangling")
		})
	}
}

// TestUpkeepKillHelper is the process TestUpkeepKilled kills: it opens the
// clone and fetches, which repacks, announcing each step on stdout; it
// stops at the start of the step after the one to be killed in, so the
// kill lands inside that one or right after it.
func TestUpkeepKillHelper(t *testing.T) {
	env := os.Getenv("FERRY_UPKEEP_HELPER")
	if env == "" {
		t.Skip("run by TestUpkeepKilled")
	}
	parts := strings.Split(env, "\n")
	dir, url, at := parts[0], parts[1], parts[2]
	reached := false
	upkeepStep = func(step string) error {
		if reached {
			time.Sleep(time.Hour)
		}
		fmt.Printf("upkeep step %s\n", step)
		reached = step == at
		return nil
	}
	o := testOptions(t, url)
	o.Dir = dir
	r := mustOpen(t, o)
	r.looseLimit = testLooseLimit
	if _, err := r.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Hour) // killed before this
}
