package fleet

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// The clone's object store over months. Every Commit adds a handful of loose
// objects (the blob, the trees on its path, the commit) and every Fetch that
// brings something adds a pack; left alone, a long-running agent's clone
// holds hundreds of thousands of files and every object lookup walks
// hundreds of pack indexes. After a Push or Fetch, once there are maxLoose
// loose objects or more than maxPacks packs, upkeep writes the loose objects
// and the smaller packs into one new pack (a geometric repack: the packs
// left keep doubling in size, so a repack's cost stays in proportion to
// what is new, not to the whole history), then deletes what it packed.
//
// It uses go-git's pack writing (the storage's PackfileWriter and
// packfile.Encoder) rather than Repository.RepackObjects, which walks the
// whole history on every run, keeps only what the local refs reach (not a
// commit still waiting to be pushed, nor what a Snapshot held by a reader
// may read) and deletes the old packs under the readers' feet.
//
// Nothing is deleted before the new pack and its index are on disk and
// synced, and nothing is pruned: every object stays either loose or in a
// pack at every moment, so a kill at any point leaves a usable clone (Open
// removes the temporary and orphaned files such a kill leaves). Readers
// (Snapshots) never see a pack vanish: old packs go while the object
// store's lock is held, and its pack list is re-read before it is released;
// a reader that misses a loose object deleted since re-reads it and finds
// it in the new pack.

const (
	// maxLoose loose objects, about 170 promotions, are packed at once:
	// a pack of them takes a few tens of milliseconds.
	maxLoose = 1024
	// maxPacks packs (one per fetch that brought something) are merged.
	maxPacks = 16
)

// upkeepStep, when set (tests), is called between the steps of a repack;
// an error stops the repack there, as a kill would.
var upkeepStep func(step string) error

// upkeep repacks when the thresholds above are passed. A failure is logged,
// not returned: the push or fetch it follows has succeeded, and the clone
// works as it is.
func (r *Repo) upkeep() {
	if r.disk == nil || r.noUpkeep {
		return
	}
	limit := r.looseLimit
	if limit == 0 {
		limit = maxLoose
	}
	loose := r.objs.looseCount()
	if loose < max(limit, r.upkeepAfter) && !r.packsChanged {
		return
	}
	r.packsChanged = false
	packs, err := r.packs()
	if err != nil {
		r.log.Warn("object store upkeep: listing packs failed", "err", err)
		return
	}
	if loose < max(limit, r.upkeepAfter) && len(packs) <= maxPacks {
		return
	}
	if err := r.repack(packs); err != nil {
		// Not again on the next push: after as many objects again.
		r.upkeepAfter = loose + limit
		r.log.Warn("object store upkeep: repack failed; the clone works as it is", "err", err)
		return
	}
	r.upkeepAfter = 0
}

// pack is one pack of the clone and how many objects it holds.
type pack struct {
	hash    plumbing.Hash
	objects int64
}

func (r *Repo) packPath(h plumbing.Hash, ext string) string {
	return filepath.Join(r.dir, "objects", "pack", "pack-"+h.String()+"."+ext)
}

// packs lists the clone's packs, smallest first.
func (r *Repo) packs() ([]pack, error) {
	hs, err := r.disk.ObjectPacks()
	if err != nil {
		return nil, err
	}
	out := make([]pack, 0, len(hs))
	for _, h := range hs {
		idx, err := r.readIndex(h)
		if err != nil {
			return nil, err
		}
		n, err := idx.Count()
		if err != nil {
			return nil, err
		}
		out = append(out, pack{h, n})
	}
	slices.SortFunc(out, func(a, b pack) int { return int(a.objects - b.objects) })
	return out, nil
}

func (r *Repo) readIndex(h plumbing.Hash) (*idxfile.MemoryIndex, error) {
	f, err := os.Open(r.packPath(h, "idx"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read index of pack %s: %w", h, err)
	}
	return idx, nil
}

// toMerge is how many of packs (smallest first) to merge with loose loose
// objects so that the packs left each hold at least twice the objects of
// the one before: git repack --geometric=2.
func toMerge(packs []pack, loose int64) int {
	k := 0
	for i := len(packs) - 1; i > 0; i-- {
		if packs[i].objects < 2*packs[i-1].objects {
			k = i
			break
		}
	}
	sum := loose
	for _, p := range packs[:k] {
		sum += p.objects
	}
	for k < len(packs) && packs[k].objects < 2*sum {
		sum += packs[k].objects
		k++
	}
	return k
}

// repack writes the loose objects and the smaller packs into one pack and
// deletes them.
func (r *Repo) repack(packs []pack) (err error) {
	start := time.Now()
	var loose []plumbing.Hash
	if err := r.disk.ForEachObjectHash(func(h plumbing.Hash) error {
		loose = append(loose, h)
		return nil
	}); err != nil {
		return fmt.Errorf("list loose objects: %w", err)
	}
	merge := packs[:toMerge(packs, int64(len(loose)))]
	if len(loose) == 0 && len(merge) < 2 {
		r.objs.setLoose(0)
		return nil
	}
	seen := make(map[plumbing.Hash]bool, len(loose))
	var hashes []plumbing.Hash
	add := func(h plumbing.Hash) {
		if !seen[h] {
			seen[h] = true
			hashes = append(hashes, h)
		}
	}
	for _, h := range loose {
		add(h)
	}
	for _, p := range merge {
		idx, err := r.readIndex(p.hash)
		if err != nil {
			return err
		}
		it, err := idx.Entries()
		if err != nil {
			return err
		}
		for {
			e, err := it.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			add(e.Hash)
		}
		_ = it.Close()
	}
	if err := step("write"); err != nil {
		return err
	}
	h, err := r.writePack(hashes)
	if err != nil {
		return err
	}
	if err := step("delete packs"); err != nil {
		return err
	}
	// The writer's storage knows the new pack already (its PackfileWriter
	// added it); the readers' learns of it with the old packs gone.
	r.objs.mu.Lock()
	for _, p := range merge {
		if p.hash == h {
			continue
		}
		if err = removePack(r.packPath(p.hash, "pack"), r.packPath(p.hash, "idx")); err != nil {
			break
		}
	}
	r.objs.s.Reindex()
	r.objs.mu.Unlock()
	r.disk.Reindex()
	if err != nil {
		return err
	}
	if err := step("delete loose"); err != nil {
		return err
	}
	for _, o := range loose {
		if err := r.disk.DeleteLooseObject(o); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("delete packed loose object %s: %w", o, err)
		}
	}
	r.objs.setLoose(0)
	r.log.Info("object store repacked", "loose", len(loose), "packs merged", len(merge), "packs before", len(packs),
		"objects", len(hashes), "pack", h.String()[:12], "took", time.Since(start))
	return nil
}

func step(name string) error {
	if upkeepStep == nil {
		return nil
	}
	return upkeepStep(name)
}

// writePack writes hashes to a new pack with go-git's encoder, through the
// storage's PackfileWriter (a temporary file, indexed, then renamed into
// place), and syncs it before anything it holds may be deleted.
func (r *Repo) writePack(hashes []plumbing.Hash) (h plumbing.Hash, err error) {
	w, err := r.disk.PackfileWriter()
	if err != nil {
		return h, fmt.Errorf("write pack: %w", err)
	}
	// No delta search: fleet objects are small, and a pack of them is
	// already a fraction of the disk their loose files take.
	h, err = packfile.NewEncoder(w, r.disk, false).Encode(hashes, 0)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return h, fmt.Errorf("write pack: %w", err)
	}
	for _, p := range []string{r.packPath(h, "idx"), r.packPath(h, "pack"), filepath.Dir(r.packPath(h, "pack"))} {
		if err := syncFile(p); err != nil {
			return h, fmt.Errorf("write pack: %w", err)
		}
	}
	return h, nil
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// removePack deletes a pack file first, then its index: a kill in between
// leaves an index without a pack, which no reader lists and Open removes.
func removePack(pack, idx string) error {
	if err := os.Remove(pack); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(idx); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// cleanPackDir removes what a killed fetch or repack leaves in
// objects/pack: temporary files (tmp_*) and indexes whose pack is gone.
// go-git keeps an existing index when it writes a pack of the same name, so
// a torn one must not stay.
func (r *Repo) cleanPackDir() {
	dir := filepath.Join(r.dir, "objects", "pack")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		orphan := strings.HasPrefix(name, "pack-") && strings.HasSuffix(name, ".idx")
		if orphan {
			_, err := os.Stat(filepath.Join(dir, strings.TrimSuffix(name, ".idx")+".pack"))
			orphan = errors.Is(err, os.ErrNotExist)
		}
		if !strings.HasPrefix(name, "tmp_") && !orphan {
			continue
		}
		r.log.Info("removing a file left in objects/pack by an interrupted fetch or repack", "file", name)
		_ = os.Remove(filepath.Join(dir, name))
	}
}

// countLoose counts the clone's loose objects, at Open.
func (r *Repo) countLoose() int {
	n := 0
	_ = r.disk.ForEachObjectHash(func(plumbing.Hash) error {
		n++
		return nil
	})
	return n
}
