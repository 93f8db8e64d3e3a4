package fleet

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// FS is an io/fs view of the snapshot's whole tree. Blobs are read when a
// file is opened. Symbolic links inside the repository are followed by Open
// and Stat (ReadLink and Lstat show them); submodules are left out. Every
// entry carries the commit time as its modification time.
func (s *Snapshot) FS() fs.FS { return snapFS{s: s} }

type snapFS struct{ s *Snapshot }

// The optional interfaces: ReadFile and Stat without opening, and ReadLink
// and Lstat so overlays can tell a link that leaves the repository from an
// absent file.
var (
	_ fs.ReadFileFS = snapFS{}
	_ fs.ReadDirFS  = snapFS{}
	_ fs.StatFS     = snapFS{}
	_ fs.ReadLinkFS = snapFS{}
)

// find looks name up for op. Invalid names are ErrInvalid, never looked up,
// as fs.FS requires.
func (f snapFS) find(op, name string, follow bool) (entry, error) {
	if !fs.ValidPath(name) {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, err := f.s.lookup(name, follow)
	if err != nil {
		return entry{}, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return e, nil
}

func (f snapFS) Open(name string) (fs.File, error) {
	e, err := f.find("open", name, true)
	if err != nil {
		return nil, err
	}
	info, err := f.info(path.Base(name), e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e.mode == filemode.Dir {
		list, err := f.list(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &dirFile{info: info, entries: list}, nil
	}
	// Read whole: fleet files are small YAML, and bytes.Reader gives Seek
	// and ReadAt for free.
	data, err := f.s.objs.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &file{info: info, Reader: bytes.NewReader(data)}, nil
}

func (f snapFS) ReadFile(name string) ([]byte, error) {
	e, err := f.find("read", name, true)
	if err != nil {
		return nil, err
	}
	if e.mode == filemode.Dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	b, err := f.s.objs.blob(e.hash)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return b, nil
}

func (f snapFS) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.find("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if e.mode != filemode.Dir {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := f.list(e)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return list, nil
}

func (f snapFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, true) }

func (f snapFS) Lstat(name string) (fs.FileInfo, error) { return f.stat("lstat", name, false) }

func (f snapFS) stat(op, name string, follow bool) (fs.FileInfo, error) {
	e, err := f.find(op, name, follow)
	if err != nil {
		return nil, err
	}
	info, err := f.info(path.Base(name), e)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return info, nil
}

func (f snapFS) ReadLink(name string) (string, error) {
	e, err := f.find("readlink", name, false)
	if err != nil {
		return "", err
	}
	// As readlink(2) on a file that is no link: EINVAL.
	if e.mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	b, err := f.s.objs.blob(e.hash)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return string(b), nil
}

// list reads a directory's entries in name order, as fs.ReadDir wants (git
// orders a subtree "a" as "a/").
func (f snapFS) list(dir entry) ([]fs.DirEntry, error) {
	t, err := f.s.objs.tree(dir.hash)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(t.Entries))
	for _, te := range t.Entries {
		// A submodule's content lives in another repository: an empty
		// directory in its place would mislead a render.
		if te.Mode == filemode.Submodule {
			continue
		}
		e := entry{name: te.Name, mode: te.Mode, hash: te.Hash}
		// Old git's group-writable mode (100664) is an ordinary file.
		if e.mode == filemode.Deprecated {
			e.mode = filemode.Regular
		}
		out = append(out, dirEntry{fsys: f, e: e})
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func (f snapFS) info(name string, e entry) (fileInfo, error) {
	fi := fileInfo{name: name, mode: fsMode(e.mode), mod: f.s.when}
	// The size without reading the blob, so a listing stays cheap.
	if e.mode != filemode.Dir {
		n, err := f.s.objs.EncodedObjectSize(e.hash)
		if err != nil {
			return fileInfo{}, err
		}
		fi.size = n
	}
	return fi, nil
}

// fsMode maps git's modes to permissions: git records only whether a file is
// executable, so the rest are the conventional ones.
func fsMode(m filemode.FileMode) fs.FileMode {
	switch m {
	case filemode.Dir:
		return fs.ModeDir | 0o755
	case filemode.Executable:
		return 0o755
	case filemode.Symlink:
		return fs.ModeSymlink | 0o777
	default:
		return 0o644
	}
}

type fileInfo struct {
	name string
	mode fs.FileMode
	size int64
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

type dirEntry struct {
	fsys snapFS
	e    entry
}

func (d dirEntry) Name() string               { return d.e.name }
func (d dirEntry) IsDir() bool                { return d.e.mode == filemode.Dir }
func (d dirEntry) Type() fs.FileMode          { return fsMode(d.e.mode).Type() }
func (d dirEntry) Info() (fs.FileInfo, error) { return d.fsys.info(d.e.name, d.e) }
func (d dirEntry) String() string             { return fs.FormatDirEntry(d) }

// file is an open blob; it supports Seek and ReadAt through bytes.Reader.
type file struct {
	info fileInfo
	*bytes.Reader
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

type dirFile struct {
	info    fileInfo
	entries []fs.DirEntry
	off     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	// fs.ReadDirFile's contract: n <= 0 returns all the rest and no EOF.
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return rest[:n], nil
}
