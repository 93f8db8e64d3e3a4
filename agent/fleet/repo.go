// Package fleet reads and writes the fleet repository with go-git. ferry
// keeps a bare clone on disk and builds commits at object level (new blobs,
// the trees on the changed paths, a commit object) instead of using a
// worktree: it is faster, and a crash can never leave a dirty worktree
// behind. Pushes never force; a remote that moved on yields
// ErrNonFastForward and the caller redoes its change on a fresh Fetch.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Repo is a bare local clone of one branch of the fleet repository. One
// goroutine at a time may call Fetch, Commit and Push; Snapshots, Snapshot,
// Log and LogPath may be used from any number of goroutines meanwhile.
type Repo struct {
	opts     Options
	ep       endpoint
	auth     transport.AuthMethod
	log      *slog.Logger
	dir      string
	wst      storage.Storer // used by fetch and push only
	remote   *gogit.Remote
	objs     *objectStore
	refspec  config.RefSpec
	branch   plumbing.ReferenceName // on the remote
	tracking plumbing.ReferenceName // the local remote-tracking ref

	// The remote's receive-pack capabilities from the last advertised push
	// over HTTP: later pushes skip the advertisement (sendKnown).
	pushCaps *capability.List
	// disk is the writer's storage of a clone on disk (nil in memory):
	// upkeep packs its objects.
	disk *filesystem.Storage
	// packsChanged: a fetch may have added a pack since upkeep last looked.
	packsChanged bool
	noUpkeep     bool // benchmarks compare a clone without upkeep
	upkeepAfter  int  // after a failed repack: the loose count to try again at
	looseLimit   int  // maxLoose unless a test sets a smaller one

	// shortcutFailures counts the pushes in a row that failed without the
	// advertisement and then worked with it.
	shortcutFailures int
}

// Open opens the bare clone in o.Dir when it is a clone of o.URL and
// fetches; otherwise it creates the clone there (Dir must then be missing or
// empty). An empty remote is not an error here, so a first commit can be
// pushed to it; Fetch reports it.
func Open(ctx context.Context, o Options) (*Repo, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	ep, err := parseURL(o.URL)
	if err != nil {
		return nil, err
	}
	auth, err := authMethod(ep, o.Auth)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ep.url, redact(err, o.Auth.Password, o.Auth.SSHKeyPassphrase, ep.password))
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: clone dir: %w", ep.url, err)
	}
	r := &Repo{
		opts:     o,
		ep:       ep,
		auth:     auth,
		log:      o.Logger.With("repo", ep.url, "branch", o.Branch),
		dir:      dir,
		branch:   plumbing.NewBranchReferenceName(o.Branch),
		tracking: plumbing.NewRemoteReferenceName(remoteName, o.Branch),
	}
	// "+" forces the local tracking ref only: it follows the remote even
	// after a person's force push; ferry's own pushes never force.
	r.refspec = config.RefSpec(fmt.Sprintf("+%s:%s", r.branch, r.tracking))
	if err := r.openStorage(); err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", ep.url, dir, err)
	}
	if _, err := r.fetch(ctx); err != nil && !errors.Is(err, ErrEmptyRemote) {
		return nil, err
	}
	return r, nil
}

func (r *Repo) openStorage() error {
	var repo *gogit.Repository
	var err error
	if r.opts.InMemory {
		mem := newMemoryObjects()
		r.wst, r.objs = mem, &objectStore{s: mem}
		repo, err = gogit.InitWithOptions(mem, nil, gogit.InitOptions{DefaultBranch: r.branch})
		if err != nil {
			return fmt.Errorf("init clone in memory: %w", err)
		}
		return r.configure(repo)
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := r.removeTornRefs(); err != nil {
		return err
	}
	r.cleanPackDir()
	// The writer's storage reads few objects (sendPack encodes only new
	// ones), so a small cache does; Snapshots read through objs.
	r.disk = filesystem.NewStorage(osfs.New(r.dir), cache.NewObjectLRU(8*cache.MiByte))
	r.wst = r.disk
	repo, err = gogit.Open(r.wst, nil)
	switch {
	case errors.Is(err, gogit.ErrRepositoryNotExists):
		entries, rerr := os.ReadDir(r.dir)
		if rerr != nil {
			return rerr
		}
		// Never initialise a clone over someone's files.
		if len(entries) > 0 {
			return errors.New("the directory is not empty and holds no bare git repository")
		}
		repo, err = gogit.InitWithOptions(r.wst, nil, gogit.InitOptions{DefaultBranch: r.branch})
		if err != nil {
			return fmt.Errorf("init bare clone: %w", err)
		}
		r.log.Info("created bare clone", "dir", r.dir)
	case err != nil:
		return err
	}
	// Snapshots read many trees and blobs: go-git's default, larger cache.
	r.objs = &objectStore{s: filesystem.NewStorage(osfs.New(r.dir), cache.NewObjectLRUDefault())}
	r.objs.setLoose(r.countLoose())
	r.packsChanged = true
	return r.configure(repo)
}

// configure points the clone's remote at the fleet repo.
func (r *Repo) configure(repo *gogit.Repository) error {
	cfg, err := repo.Config()
	if err != nil {
		return fmt.Errorf("read clone config: %w", err)
	}
	rc := cfg.Remotes[remoteName]
	switch {
	case rc == nil:
		rc = &config.RemoteConfig{Name: remoteName, URLs: []string{r.ep.url}}
		cfg.Remotes[remoteName] = rc
	// A clone of another repository would push this fleet's commits there.
	case len(rc.URLs) != 1 || rc.URLs[0] != r.ep.url:
		return fmt.Errorf("the directory is a clone of %v, not of %s", redactURLs(rc.URLs), r.ep.url)
	}
	// Rewritten when the branch in ferry.yaml changed since the clone.
	if len(rc.Fetch) != 1 || rc.Fetch[0] != r.refspec {
		rc.Fetch = []config.RefSpec{r.refspec}
		if err := repo.SetConfig(cfg); err != nil {
			return fmt.Errorf("write clone config: %w", err)
		}
	}
	r.remote = gogit.NewRemote(bounded(r.wst), rc)
	return nil
}

// removeTornRefs deletes empty files under refs/: go-git truncates a ref
// file before writing it, so a process killed in between leaves one, and
// every later fetch fails with "ref file is empty". The clone's refs only
// mirror the remote, so the next fetch restores them.
func (r *Repo) removeTornRefs() error {
	err := filepath.WalkDir(filepath.Join(r.dir, "refs"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil || info.Size() != 0 {
			return err
		}
		r.log.Warn("removing a ref left empty by an interrupted write", "ref", p)
		return os.Remove(p)
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("check refs: %w", err)
	}
	return nil
}

func redactURLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = redactURL(u)
	}
	return out
}

// Fetch brings the branch up to date and returns the snapshot at the
// remote's head. A remote without commits on the branch gives ErrEmptyRemote.
func (r *Repo) Fetch(ctx context.Context) (*Snapshot, error) {
	h, err := r.fetch(ctx)
	if err != nil {
		return nil, err
	}
	r.upkeep()
	return r.snapshot(h)
}

func (r *Repo) fetch(ctx context.Context) (plumbing.Hash, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	start := time.Now()
	// No tags: ferry never reads them, and fetching them costs time.
	err := r.remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{r.refspec},
		Auth:       r.auth,
		Tags:       gogit.NoTags,
	})
	switch {
	case err == nil:
		r.packsChanged = true
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w: the repository is empty", r.opts.Branch, r.ep.url, ErrEmptyRemote)
	case errors.Is(err, gogit.NoMatchingRefSpecError{}):
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w: there is no branch %q", r.opts.Branch, r.ep.url, ErrEmptyRemote, r.opts.Branch)
	default:
		return plumbing.ZeroHash, r.netErr(ctx, fmt.Sprintf("fetch %s from %s", r.opts.Branch, r.ep.url), err)
	}
	ref, err := r.wst.Reference(r.tracking)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: read %s: %w", r.opts.Branch, r.ep.url, r.tracking, err)
	}
	r.log.Debug("fetched", "head", ref.Hash().String(), "took", time.Since(start))
	return ref.Hash(), nil
}

// netErr wraps err from a network operation, naming a timeout as such and
// keeping credentials out of the message.
func (r *Repo) netErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return redact(err, r.opts.Auth.Password, r.opts.Auth.SSHKeyPassphrase, r.ep.password)
}

// Snapshot returns the commit with the given full hash, if the local clone
// has it.
func (r *Repo) Snapshot(hash string) (*Snapshot, error) {
	// Full hashes only: an abbreviation could be ambiguous.
	if !plumbing.IsHash(hash) {
		return nil, fmt.Errorf("snapshot: %q is not a full commit hash", hash)
	}
	return r.snapshot(plumbing.NewHash(hash))
}

// Dir is the local bare clone's directory.
func (r *Repo) Dir() string { return r.dir }

// URL is the remote's URL without credentials.
func (r *Repo) URL() string { return r.ep.url }
