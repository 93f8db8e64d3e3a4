package fleet

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Snapshot is an immutable view of one commit of the fleet repository. It
// is safe for concurrent use.
type Snapshot struct {
	hash    plumbing.Hash
	tree    plumbing.Hash
	parents []plumbing.Hash
	when    time.Time
	objs    *objectStore
}

func (r *Repo) snapshot(h plumbing.Hash) (*Snapshot, error) {
	c, err := r.objs.commit(h)
	if err != nil {
		return nil, err
	}
	return newSnapshot(r.objs, c), nil
}

func newSnapshot(objs *objectStore, c *object.Commit) *Snapshot {
	return &Snapshot{hash: c.Hash, tree: c.TreeHash, parents: c.ParentHashes, when: c.Committer.When, objs: objs}
}

// Hash is the commit's full hash.
func (s *Snapshot) Hash() string { return s.hash.String() }

// Parents are the commit's parent hashes, first parent first.
func (s *Snapshot) Parents() []string {
	out := make([]string, len(s.parents))
	for i, p := range s.parents {
		out[i] = p.String()
	}
	return out
}

// Time is the commit's committer time.
func (s *Snapshot) Time() time.Time { return s.when }

func (s *Snapshot) short() string { return s.hash.String()[:12] }

// ReadFile returns the content of the file at path (slash-separated,
// relative to the repository root), following symbolic links. An absent file
// gives an error wrapping fs.ErrNotExist.
func (s *Snapshot) ReadFile(name string) ([]byte, error) {
	b, err := s.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s at %s: %w", name, s.short(), err)
	}
	return b, nil
}

// ReadFileUpTo is ReadFile for a file that may hold at most max bytes: a
// larger one is an error wrapping *TooLargeError, and its content is not
// read (a pushed blob of hundreds of MB must not cost as much memory).
func (s *Snapshot) ReadFileUpTo(name string, max int64) ([]byte, error) {
	e, err := s.entry(name)
	if err == nil {
		var b []byte
		if b, err = s.objs.blobUpTo(e.hash, max); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("read %s at %s: %w", name, s.short(), err)
}

// entry is name's file entry, symbolic links followed.
func (s *Snapshot) entry(name string) (entry, error) {
	if !fs.ValidPath(name) || name == "." {
		return entry{}, fmt.Errorf("invalid path: %w", fs.ErrInvalid)
	}
	e, err := s.lookup(name, true)
	if err != nil {
		return entry{}, err
	}
	if e.mode == filemode.Dir {
		return entry{}, errors.New("is a directory")
	}
	return e, nil
}

func (s *Snapshot) readFile(name string) ([]byte, error) {
	e, err := s.entry(name)
	if err != nil {
		return nil, err
	}
	return s.objs.blob(e.hash)
}

// Resolve returns the path name reads once every symbolic link on the way
// is followed: two names that resolve to one path are one file. A link that
// leaves the repository resolves to nothing (fs.ErrNotExist).
func (s *Snapshot) Resolve(name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("resolve %s: %w", name, fs.ErrInvalid)
	}
	parts := splitPath(name)
	for links := 0; ; links++ {
		if links > maxLinks {
			return "", fmt.Errorf("resolve %s: too many levels of symbolic links", name)
		}
		_, next, _, again, err := s.walk(parts, true)
		if err != nil {
			return "", fmt.Errorf("resolve %s at %s: %w", name, s.short(), err)
		}
		if !again {
			return path.Join(parts...), nil
		}
		parts = next
	}
}

// entry is a tree entry found by lookup.
type entry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

// maxLinks bounds symbolic link resolution, as Linux's MAXSYMLINKS.
const maxLinks = 40

// lookup finds a valid fs path in the commit's tree. Symbolic links are
// followed in directory elements and, when follow is set, in the last one.
// A link that leaves the repository or leads to nothing is ErrBrokenLink,
// not an absent file. Submodules are not part of the snapshot.
func (s *Snapshot) lookup(name string, follow bool) (entry, error) {
	parts := splitPath(name)
	var linkTarget []string // the last link's target, once one is followed
	for links := 0; ; links++ {
		if links > maxLinks {
			return entry{}, errors.New("too many levels of symbolic links")
		}
		e, next, target, again, err := s.walk(parts, follow)
		if err != nil && linkTarget != nil && errors.Is(err, fs.ErrNotExist) {
			// A link followed to nothing is not an absent file: read as
			// absent, a renamed target would silently drop the policies or
			// rejections the link stood for. A link to a directory that
			// lacks the rest of the path is plain absence.
			if _, terr := s.lookup(path.Join(linkTarget...), true); terr != nil {
				return entry{}, fmt.Errorf("%w: a symbolic link on the way to %s leads to nothing", ErrBrokenLink, name)
			}
		}
		if err != nil || !again {
			return e, err
		}
		parts, linkTarget = next, target
	}
}

// walk descends the tree along parts. At a symbolic link to follow it
// returns again and the path the link leads to; otherwise the entry found.
func (s *Snapshot) walk(parts []string, follow bool) (found entry, next, target []string, again bool, err error) {
	cur := entry{name: ".", mode: filemode.Dir, hash: s.tree}
	for i, part := range parts {
		if cur.mode != filemode.Dir {
			return entry{}, nil, nil, false, fs.ErrNotExist
		}
		t, err := s.objs.tree(cur.hash)
		if err != nil {
			return entry{}, nil, nil, false, err
		}
		e, ok := findEntry(t, part)
		if !ok || e.Mode == filemode.Submodule {
			return entry{}, nil, nil, false, fs.ErrNotExist
		}
		if e.Mode == filemode.Symlink && (i < len(parts)-1 || follow) {
			target, err := s.objs.blob(e.Hash)
			if err != nil {
				return entry{}, nil, nil, false, err
			}
			// Relative to the link's directory, as the filesystem resolves it.
			p := path.Join(path.Join(parts[:i]...), string(target), path.Join(parts[i+1:]...))
			if path.IsAbs(string(target)) || p == ".." || strings.HasPrefix(p, "../") {
				return entry{}, nil, nil, false, fmt.Errorf("%w: symbolic link %s leaves the repository", ErrBrokenLink, path.Join(parts[:i+1]...))
			}
			return entry{}, splitPath(p), splitPath(path.Join(path.Join(parts[:i]...), string(target))), true, nil
		}
		cur = entry{name: part, mode: e.Mode, hash: e.Hash}
		// Old git's group-writable mode (100664) is an ordinary file.
		if cur.mode == filemode.Deprecated {
			cur.mode = filemode.Regular
		}
	}
	return cur, nil, nil, false, nil
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// findEntry scans: every lookup decodes a fresh tree (objectStore.tree), so
// building object.Tree's own index would cost more than the scan.
func findEntry(t *object.Tree, name string) (object.TreeEntry, bool) {
	for _, e := range t.Entries {
		if e.Name == name {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// ObjectID is the Git object id of the file or directory at name, so a
// caller can tell cheaply whether a subtree changed between two commits.
// An absent path gives an error wrapping fs.ErrNotExist.
func (s *Snapshot) ObjectID(name string) (string, error) {
	if name == "." || name == "" {
		return s.tree.String(), nil
	}
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("object id of %s: %w", name, fs.ErrInvalid)
	}
	e, err := s.lookup(name, true)
	if err != nil {
		return "", fmt.Errorf("object id of %s at %s: %w", name, s.short(), err)
	}
	return e.hash.String(), nil
}
