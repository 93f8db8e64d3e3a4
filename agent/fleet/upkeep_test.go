package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// objectFiles counts a clone's loose objects and packs on disk.
func objectFiles(t testing.TB, dir string) (loose, packs int) {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if len(d.Name()) != 2 {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, "objects", d.Name()))
		if err != nil {
			t.Fatal(err)
		}
		loose += len(files)
	}
	packFiles, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.pack"))
	return loose, len(packFiles)
}

// memClone is an on-disk clone of a fresh in-memory remote holding a seed
// commit, and an in-memory clone of it for another writer.
func memClone(t testing.TB) (r, other *Repo, head *Snapshot) {
	t.Helper()
	m := NewMemoryRemote(strings.ReplaceAll(t.Name(), "/", "-"))
	t.Cleanup(m.Close)
	o := testOptions(t, m.URL())
	o.Logger = testLogger(t, nil)
	r = mustOpen(t, o)
	seed, err := r.Commit(nil, seedFiles, "seed\n", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	oo := testOptions(t, m.URL())
	oo.Dir, oo.InMemory = "", true
	other = mustOpen(t, oo)
	return r, other, seed
}

// TestUpkeepBoundsObjectStore: a clone that makes 3,000 promotions and
// fetches another writer's commit every 50 keeps its loose objects and packs
// bounded, and every commit stays readable, by ferry and by git.
func TestUpkeepBoundsObjectStore(t *testing.T) {
	t.Parallel()
	n := 3000
	if testing.Short() || raceEnabled {
		n = 500 // still two repacks
	}
	r, other, head := memClone(t)
	ctx := context.Background()
	var maxLooseSeen, maxPacksSeen int
	want := map[string]string{} // commit -> the file it bumped, "path\x00content"
	envs := []string{"dev", "qa", "ppd", "prod", "dr"}
	for i := range n {
		if i%50 == 49 {
			oh := mustFetch(t, other)
			s, err := other.Commit(oh, map[string][]byte{"other/" + fmt.Sprint(i%7): bump(fmt.Sprint(i))}, "other\n", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Push(ctx, s); err != nil {
				t.Fatal(err)
			}
			head = mustFetch(t, r)
		}
		path := fmt.Sprintf("overlays/%s/app%02d/kustomization.yaml", envs[i%5], i%50)
		content := bump(fmt.Sprintf("1.%d.0", i))
		s, err := r.Commit(head, map[string][]byte{path: content}, promote("app", envs[i%5], "1.0.0"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(ctx, s); err != nil {
			t.Fatal(err)
		}
		head = s
		if i%100 == 0 {
			want[s.Hash()] = path + "\x00" + string(content)
			loose, packs := objectFiles(t, r.Dir())
			maxLooseSeen, maxPacksSeen = max(maxLooseSeen, loose), max(maxPacksSeen, packs)
		}
	}
	loose, packs := objectFiles(t, r.Dir())
	t.Logf("after %d promotions and %d fetches: %d loose objects, %d packs (at most %d and %d seen)", n, n/50, loose, packs, maxLooseSeen, maxPacksSeen)
	// Without upkeep: ~6 loose objects per promotion and a pack per fetch.
	if maxLooseSeen >= maxLoose+10 || maxPacksSeen > maxPacks+1 {
		t.Fatalf("object store grew to %d loose objects and %d packs; want under %d and at most %d", maxLooseSeen, maxPacksSeen, maxLoose+10, maxPacks+1)
	}
	// A fresh Repo (as after a restart) reads every sampled commit.
	for _, rr := range []*Repo{r, reopen(t, r)} {
		for h, pc := range want {
			s, err := rr.Snapshot(h)
			if err != nil {
				t.Fatal(err)
			}
			path, content, _ := strings.Cut(pc, "\x00")
			got, err := s.ReadFile(path)
			if err != nil || string(got) != content {
				t.Fatalf("%s:%s = %q, %v; want %q", h[:12], path, got, err, content)
			}
		}
	}
	git(t, r.Dir(), "fsck", "--strict", "--no-dangling")
}

// testLooseLimit is the loose-object threshold of the tests that need a
// few repacks, not a realistic number of commits.
const testLooseLimit = 240

// reopen opens r's clone directory again, as a restarted agent does.
func reopen(t testing.TB, r *Repo) *Repo {
	t.Helper()
	o := r.opts
	o.Dir = r.Dir()
	return mustOpen(t, o)
}

// TestUpkeepInterrupted: a repack stopped at any step (as a kill would)
// leaves a clone that opens, reads every commit, passes git fsck, and is
// repacked on a later push.
func TestUpkeepInterrupted(t *testing.T) {
	for _, stop := range []string{"write", "delete packs", "delete loose"} {
		t.Run(stop, func(t *testing.T) {
			r, _, head := memClone(t)
			r.looseLimit = testLooseLimit
			ctx := context.Background()
			var hashes []string
			var stopped atomic.Bool
			var attempts atomic.Int32
			upkeepStep = func(step string) error {
				if step == "write" {
					attempts.Add(1)
				}
				if step == stop {
					stopped.Store(true)
					return errors.New("killed at " + step)
				}
				return nil
			}
			t.Cleanup(func() { upkeepStep = nil })
			// 3 new objects a commit: a blob, the root tree, the commit.
			for i := range testLooseLimit/3 + 20 {
				s, err := r.Commit(head, map[string][]byte{"f": bump(fmt.Sprint(i))}, "c\n", t0)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Push(ctx, s); err != nil {
					t.Fatal(err)
				}
				head = s
				hashes = append(hashes, s.Hash())
			}
			if !stopped.Load() {
				t.Fatal("no repack reached the step")
			}
			// A failed repack is not tried again on every push.
			if n := attempts.Load(); n != 1 {
				t.Fatalf("%d repack attempts over %d new objects, want 1", n, testLooseLimit+60)
			}
			// Leftovers of a kill inside go-git's pack writing.
			packDir := filepath.Join(r.Dir(), "objects", "pack")
			for _, name := range []string{"tmp_pack_123", "pack-0123456789012345678901234567890123456789.idx"} {
				if err := os.WriteFile(filepath.Join(packDir, name), []byte("torn"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			upkeepStep = nil
			r2 := reopen(t, r)
			r2.looseLimit = testLooseLimit
			for _, name := range []string{"tmp_pack_123", "pack-0123456789012345678901234567890123456789.idx"} {
				if _, err := os.Stat(filepath.Join(packDir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left after Open: %v", name, err)
				}
			}
			for i, h := range hashes {
				s, err := r2.Snapshot(h)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := s.ReadFile("f"); err != nil || string(got) != string(bump(fmt.Sprint(i))) {
					t.Fatalf("commit %d: f = %q, %v", i, got, err)
				}
			}
			git(t, r2.Dir(), "fsck", "--strict", "--no-dangling")
			// The next push's upkeep finishes the job.
			head, err := r2.Snapshot(head.Hash())
			if err != nil {
				t.Fatal(err)
			}
			s, err := r2.Commit(head, map[string][]byte{"f": []byte("last\n")}, "c\n", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := r2.Push(ctx, s); err != nil {
				t.Fatal(err)
			}
			if loose, _ := objectFiles(t, r2.Dir()); loose > 10 {
				t.Fatalf("%d loose objects after the next push, want them packed", loose)
			}
			git(t, r2.Dir(), "fsck", "--strict", "--no-dangling")
		})
	}
}

// TestUpkeepWhileReading: Snapshots read old and new commits from other
// goroutines while repacks delete loose objects and packs; no read fails.
func TestUpkeepWhileReading(t *testing.T) {
	t.Parallel()
	r, other, head := memClone(t)
	r.looseLimit = testLooseLimit
	ctx := context.Background()
	var (
		mu    sync.Mutex
		snaps = []*Snapshot{head}
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int32
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				mu.Lock()
				s := snaps[i%len(snaps)]
				mu.Unlock()
				if _, err := s.ReadFile("ferry.yaml"); err != nil {
					t.Errorf("read %s during upkeep: %v", s.Hash()[:12], err)
					fails.Add(1)
					return
				}
				time.Sleep(100 * time.Microsecond) // leave the writer some turns
			}
		}()
	}
	repacks := 0
	for i := range 3*testLooseLimit/4 + 20 {
		if i%20 == 19 {
			oh := mustFetch(t, other)
			s, err := other.Commit(oh, map[string][]byte{"other": bump(fmt.Sprint(i))}, "other\n", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Push(ctx, s); err != nil {
				t.Fatal(err)
			}
			head = mustFetch(t, r)
		}
		s, err := r.Commit(head, map[string][]byte{fmt.Sprintf("d%d/f", i%9): bump(fmt.Sprint(i))}, "c\n", t0)
		if err != nil {
			t.Fatal(err)
		}
		before := r.objs.looseCount()
		if err := r.Push(ctx, s); err != nil {
			t.Fatal(err)
		}
		if r.objs.looseCount() < before {
			repacks++
		}
		head = s
		mu.Lock()
		snaps = append(snaps, s)
		mu.Unlock()
		if fails.Load() > 0 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	if repacks < 2 {
		t.Fatalf("%d repacks while reading, want at least 2", repacks)
	}
}

// TestUpkeepMergesFetchedPacks: a clone that only fetches (a pack each
// time) never holds more than maxPacks+1 packs.
func TestUpkeepMergesFetchedPacks(t *testing.T) {
	t.Parallel()
	r, other, _ := memClone(t)
	ctx := context.Background()
	most := 0
	for i := range 3 * maxPacks {
		oh := mustFetch(t, other)
		s, err := other.Commit(oh, map[string][]byte{"other": bump(fmt.Sprint(i))}, "other\n", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Push(ctx, s); err != nil {
			t.Fatal(err)
		}
		if got := mustFetch(t, r); got.Hash() != s.Hash() {
			t.Fatalf("fetched %s, want %s", got.Hash(), s.Hash())
		}
		_, packs := objectFiles(t, r.Dir())
		most = max(most, packs)
	}
	if most > maxPacks+1 {
		t.Fatalf("%d packs after fetches, want at most %d", most, maxPacks+1)
	}
	git(t, r.Dir(), "fsck", "--strict", "--no-dangling")
}

func TestToMerge(t *testing.T) {
	t.Parallel()
	p := func(ns ...int64) []pack {
		var out []pack
		for _, n := range ns {
			out = append(out, pack{objects: n})
		}
		return out
	}
	for _, tc := range []struct {
		packs []pack
		loose int64
		want  int
	}{
		{nil, 1000, 0},
		{p(30000), 1000, 0},
		{p(1, 1, 1, 30000), 0, 3},
		{p(1, 1, 1, 30000), 1000, 3},
		{p(5, 600, 30000), 1000, 2},
		{p(10, 40, 160, 30000), 0, 0},
		{p(10, 40, 160, 30000), 100, 3},
		{p(2000, 30000), 10, 0},
	} {
		if got := toMerge(tc.packs, tc.loose); got != tc.want {
			t.Errorf("toMerge(%v, %d) = %d, want %d", tc.packs, tc.loose, got, tc.want)
		}
	}
}
