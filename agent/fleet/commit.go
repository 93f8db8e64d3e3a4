package fleet

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit writes a commit whose parent is parent and whose tree is parent's
// with files applied: each path (slash-separated, relative to the root) gets
// the given content, or is deleted when the content is nil. Paths are tree
// paths: symbolic links are not followed, an executable file stays
// executable, and directories left empty disappear. Author and committer are
// Options.Author at when (time.Now() when zero). A nil parent makes a root
// commit, for an empty remote. The commit is only local until Push.
// A change that leaves the tree as it was gives ErrNoChange.
func (r *Repo) Commit(parent *Snapshot, files map[string][]byte, msg string, when time.Time) (*Snapshot, error) {
	return r.commit(parent, nil, files, msg, when)
}

// CommitMerge is Commit with more parents after parent: a proposal branch
// that is brought up to date with the base branch merges its own previous
// head, so it moves forward without a force push.
func (r *Repo) CommitMerge(parent *Snapshot, others []*Snapshot, files map[string][]byte, msg string, when time.Time) (*Snapshot, error) {
	if parent == nil {
		return nil, errors.New("merge commit: no first parent")
	}
	return r.commit(parent, others, files, msg, when)
}

func (r *Repo) commit(parent *Snapshot, others []*Snapshot, files map[string][]byte, msg string, when time.Time) (*Snapshot, error) {
	what := "commit on empty branch"
	if parent != nil {
		what = "commit on " + parent.short()
		// Another Repo's objects may be missing here: a commit on them
		// would push a parent the remote cannot resolve.
		if parent.objs != r.objs {
			return nil, fmt.Errorf("%s: the parent snapshot comes from another Repo", what)
		}
	}
	// The message's format is the ledger's; a commit needs only a subject.
	if strings.TrimSpace(msg) == "" {
		return nil, fmt.Errorf("%s: empty commit message", what)
	}
	if err := checkPaths(files); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if when.IsZero() {
		when = time.Now()
	}
	var base plumbing.Hash
	if parent != nil {
		base = parent.tree
	}
	root, err := r.buildTree(base, files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// An empty tree must exist as an object for the commit to point at.
	if root.IsZero() {
		if root, err = r.objs.writeObject(&object.Tree{}); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	// A merge may keep the tree and still record history; only a plain
	// commit that changes nothing is refused.
	if parent != nil && root == parent.tree && len(others) == 0 {
		return nil, fmt.Errorf("%s: %w", what, ErrNoChange)
	}
	sig := object.Signature{Name: r.opts.Author.Name, Email: r.opts.Author.Email, When: when}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: root}
	if parent != nil {
		c.ParentHashes = []plumbing.Hash{parent.hash}
	}
	for _, o := range others {
		if o.objs != r.objs {
			return nil, fmt.Errorf("%s: a parent snapshot comes from another Repo", what)
		}
		c.ParentHashes = append(c.ParentHashes, o.hash)
	}
	if err := r.sign(c); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	h, err := r.objs.writeObject(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s, err := r.snapshot(h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	r.log.Debug("committed", "commit", s.Hash(), "parent", parentHash(parent), "files", len(files), "subject", firstLine(msg))
	return s, nil
}

// sign puts the Signer's signature over the commit's other bytes in its
// gpgsig header, as git commit -S does (for SSH and OpenPGP alike).
func (r *Repo) sign(c *object.Commit) error {
	if r.opts.Signer == nil {
		return nil
	}
	obj := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(obj); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	payload, err := objectBytes(obj)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	sig, err := r.opts.Signer.SignCommit(payload)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	c.PGPSignature = sig
	return nil
}

func objectBytes(obj plumbing.EncodedObject) ([]byte, error) {
	rd, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

func parentHash(s *Snapshot) string {
	if s == nil {
		return ""
	}
	return s.Hash()
}

// checkPaths rejects paths that are not clean relative paths, paths into
// .git, and a path that is also a directory of another path in the set.
func checkPaths(files map[string][]byte) error {
	var errs []error
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
		switch {
		// NUL would end the name inside a tree object.
		case !fs.ValidPath(p) || p == "." || strings.ContainsRune(p, 0):
			errs = append(errs, fmt.Errorf("path %q is not a clean relative slash-separated path", p))
		// Any case: on a case-insensitive filesystem a checkout of .GIT/x
		// would write into the cloner's .git.
		case slices.ContainsFunc(strings.Split(p, "/"), func(s string) bool { return strings.EqualFold(s, ".git") }):
			errs = append(errs, fmt.Errorf("path %q is inside .git", p))
		}
	}
	sort.Strings(names) // a stable order of messages
	for _, p := range names {
		for i := strings.IndexByte(p, '/'); i >= 0; i = next(p, i) {
			if _, ok := files[p[:i]]; ok {
				errs = append(errs, fmt.Errorf("path %q is both a file and the directory of %q", p[:i], p))
			}
		}
	}
	return errors.Join(errs...)
}

// next finds the slash after position i in p, or -1.
func next(p string, i int) int {
	if j := strings.IndexByte(p[i+1:], '/'); j >= 0 {
		return i + 1 + j
	}
	return -1
}

// buildTree applies changes (paths relative to the tree) to the tree base
// (zero for none) and writes the new trees bottom-up. It returns the zero
// hash when the result is empty.
func (r *Repo) buildTree(base plumbing.Hash, changes map[string][]byte) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if !base.IsZero() {
		t, err := r.objs.tree(base)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = slices.Clone(t.Entries)
	}
	find := func(name string) int {
		return slices.IndexFunc(entries, func(e object.TreeEntry) bool { return e.Name == name })
	}
	set := func(e object.TreeEntry) {
		if i := find(e.Name); i >= 0 {
			entries[i] = e
		} else {
			entries = append(entries, e)
		}
	}
	remove := func(name string) {
		if i := find(name); i >= 0 {
			entries = slices.Delete(entries, i, i+1)
		}
	}

	// Changes below a directory go to its subtree, recursively: only the
	// trees on changed paths are written again.
	nested := map[string]map[string][]byte{}
	for p, data := range changes {
		dir, rest, ok := strings.Cut(p, "/")
		if ok {
			if nested[dir] == nil {
				nested[dir] = map[string][]byte{}
			}
			nested[dir][rest] = data
			continue
		}
		if data == nil {
			remove(p)
			continue
		}
		h, err := r.objs.writeBlob(data)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		mode := filemode.Regular
		if i := find(p); i >= 0 && entries[i].Mode == filemode.Executable {
			mode = filemode.Executable
		}
		set(object.TreeEntry{Name: p, Mode: mode, Hash: h})
	}
	for dir, sub := range nested {
		var subBase plumbing.Hash
		i := find(dir)
		if i >= 0 && entries[i].Mode == filemode.Dir {
			subBase = entries[i].Hash
		}
		h, err := r.buildTree(subBase, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch {
		case !h.IsZero():
			set(object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
		case subBase.IsZero():
			// Only deletions below a file or nothing: nothing to delete.
		default:
			remove(dir)
		}
	}
	if len(entries) == 0 {
		return plumbing.ZeroHash, nil
	}
	sortEntries(entries)
	return r.objs.writeObject(&object.Tree{Entries: entries})
}

// sortEntries puts entries in git's tree order, where a directory "a"
// sorts as "a/".
func sortEntries(entries []object.TreeEntry) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
