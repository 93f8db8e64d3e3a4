// Package state reads the fleet repo at one commit the way every step sees
// it: which version of each app every environment runs, the rejected
// versions and freezes recorded beside them, and the verdict notes. It is
// a read model of Git; nothing here writes.
package state

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/overlays"
)

// State is the fleet repo at one commit.
type State struct {
	Snap  *fleet.Snapshot
	Notes *fleet.Notes // verdicts; nil when no environment is analysed
	Envs  map[string]*Env

	Rejections   *gitstate.Rejections
	RejectedData []byte
	Freezes      *gitstate.Freezes
	FreezeData   []byte
	// Approvals are the votes people cast (ferry approve, the dashboard).
	Approvals     *gitstate.Approvals
	ApprovalsData []byte
	// Err is set when the rejections, freezes or approvals cannot be read: then
	// nothing is promoted (fail closed).
	Err error

	cfg *config.Pipeline
	// assumed are the versions Assume put in place (env, then app): ferry's
	// own promotions a dry run plans but does not write.
	assumed map[[2]string]ledger.Version
}

// Env is one environment's overlay.
type Env struct {
	Path   string // its kustomization file, e.g. overlays/qa/kustomization.yaml
	Data   []byte // nil when the file does not exist yet
	Images []overlays.Image
	// Err is set when the overlay cannot be read or is not the
	// environment's own: nothing moves into or out of it.
	Err error

	env   *config.Environment // nil for a bare read of a history's commit
	index *overlays.Index     // built on first use
}

// Read reads every environment of cfg at snap.
func Read(cfg *config.Pipeline, snap *fleet.Snapshot, notes *fleet.Notes) *State {
	st := &State{Snap: snap, Notes: notes, Envs: make(map[string]*Env, len(cfg.Environments)), cfg: cfg}
	for i := range cfg.Environments {
		env := &cfg.Environments[i]
		st.Envs[env.Name] = ReadEnv(snap, env)
	}
	st.checkShared()
	st.readFiles()
	return st
}

func (st *State) readFiles() {
	var errs []error
	var err error
	st.RejectedData, err = readOptional(st.Snap, gitstate.RejectionsFile)
	errs = append(errs, err)
	if st.Rejections, err = gitstate.ParseRejections(gitstate.RejectionsFile, st.RejectedData); err != nil {
		errs = append(errs, fmt.Errorf("%s at %s: %w", gitstate.RejectionsFile, ledger.ShortHash(st.Snap.Hash()), err))
	}
	st.FreezeData, err = readOptional(st.Snap, gitstate.FreezesFile)
	errs = append(errs, err)
	if st.Freezes, err = gitstate.ParseFreezes(gitstate.FreezesFile, st.FreezeData); err != nil {
		errs = append(errs, fmt.Errorf("%s at %s: %w", gitstate.FreezesFile, ledger.ShortHash(st.Snap.Hash()), err))
	}
	st.ApprovalsData, err = readOptionalUpTo(st.Snap, gitstate.ApprovalsFile, gitstate.MaxApprovalsBytes)
	if tl := (*fleet.TooLargeError)(nil); errors.As(err, &tl) {
		err = gitstate.ApprovalsTooLarge(gitstate.ApprovalsFile, tl.Size)
	}
	errs = append(errs, err)
	if st.Approvals, err = gitstate.ParseApprovals(gitstate.ApprovalsFile, st.ApprovalsData); err != nil {
		errs = append(errs, fmt.Errorf("%s at %s: %w", gitstate.ApprovalsFile, ledger.ShortHash(st.Snap.Hash()), err))
	}
	errs = append(errs, st.checkNames())
	st.Err = errors.Join(errs...)
}

// checkNames refuses a rejection, freeze or vote naming an app or environment
// ferry.yaml does not have, and a vote for an environment without
// approval:: a person's typo (qaa for qa) would otherwise freeze, reject
// or approve nothing, in silence. Like a malformed file, it stops
// the pass until the file is fixed (fail closed).
func (st *State) checkNames() error {
	if st.cfg == nil {
		return nil
	}
	apps, envs := map[string]bool{}, map[string]bool{}
	voting := map[string]bool{} // the environments with approval:
	for _, a := range st.cfg.Apps {
		apps[a.Name] = true
	}
	for _, e := range st.cfg.Environments {
		envs[e.Name] = true
		voting[e.Name] = e.Approval != nil
	}
	var errs []error
	bad := func(file string, entry int, what, kind, name string) {
		errs = append(errs, fmt.Errorf("%s at %s: entry %d (%s): no %s %q in ferry.yaml; fix the name or remove the entry",
			file, ledger.ShortHash(st.Snap.Hash()), entry, what, kind, name))
	}
	if st.Rejections != nil {
		for i, r := range st.Rejections.Rejected {
			if !apps[r.App] {
				bad(gitstate.RejectionsFile, i+1, r.App+" "+r.Version, "app", r.App)
			}
		}
	}
	if st.Freezes != nil {
		for i, f := range st.Freezes.Freezes {
			for _, e := range f.Envs {
				if !envs[e] {
					bad(gitstate.FreezesFile, i+1, "freeze "+f.Name, "environment", e)
				}
			}
			for _, a := range f.Apps {
				if !apps[a] {
					bad(gitstate.FreezesFile, i+1, "freeze "+f.Name, "app", a)
				}
			}
		}
	}
	if st.Approvals != nil {
		// Located like the parser's own errors: the file can be long.
		at := ledger.ShortHash(st.Snap.Hash())
		for i, a := range st.Approvals.Approvals {
			vote := func(field, format string, args ...any) {
				errs = append(errs, fmt.Errorf("%s: approvals[%d].%s: %s (%s's vote on %s %s, at %s)",
					st.Approvals.Where(i), i, field, fmt.Sprintf(format, args...), a.By, a.App, a.Version, at))
			}
			if !apps[a.App] {
				vote("app", "no app %q in ferry.yaml; fix the name or remove the entry", a.App)
			}
			switch {
			case !envs[a.Env]:
				vote("env", "no environment %q in ferry.yaml; fix the name or remove the entry", a.Env)
			case !voting[a.Env]:
				// No vote counts there: a vote cast for prod on its
				// mirror, or left from an approval: since removed, would
				// sit in the file as if it did.
				vote("env", "environment %q has no approval: in ferry.yaml, so no vote counts there; remove the entry", a.Env)
			}
		}
	}
	return errors.Join(errs...)
}

// checkShared refuses two environments whose kustomization files are one
// file (a symbolic link to another environment's): a commit to one would
// move both, past the other's gate.
func (st *State) checkShared() {
	owner := map[string]string{}
	for i := range st.cfg.Environments {
		env := &st.cfg.Environments[i]
		e := st.Envs[env.Name]
		if e.Err != nil || e.Data == nil {
			continue
		}
		real, err := st.Snap.Resolve(e.Path)
		if err != nil {
			st.failEnv(env.Name, err)
			continue
		}
		if other, ok := owner[real]; ok {
			msg := fmt.Errorf("%s and %s resolve to one file, %s (a symbolic link): a commit to one would promote into both; give each environment its own kustomization", st.Envs[other].Path, e.Path, real)
			st.failEnv(env.Name, msg)
			st.failEnv(other, msg)
			continue
		}
		owner[real] = env.Name
	}
}

// failEnv sets name's error on a copy: an Env may be shared with other
// states and with the overlays read lately (ReadEnv).
func (st *State) failEnv(name string, err error) {
	e := *st.Envs[name]
	e.Err = err
	st.Envs[name] = &e
}

// readOptional reads a file that may be absent (nil, no error).
// readOptionalUpTo is readOptional for a file bounded to max bytes: a
// larger one is refused before its content is read.
func readOptionalUpTo(snap *fleet.Snapshot, name string, max int64) ([]byte, error) {
	data, err := snap.ReadFileUpTo(name, max)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func readOptional(snap *fleet.Snapshot, name string) ([]byte, error) {
	data, err := snap.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// ReadEnv reads one overlay; a broken overlay is kept as an error so the
// other environments still reconcile.
func ReadEnv(snap *fleet.Snapshot, env *config.Environment) *Env {
	p, err := overlays.FindKustomization(snap.FS(), env.Overlay)
	switch {
	case errors.Is(err, overlays.ErrNoKustomization):
		// ferry edits overlays, never creates one: read as "runs nothing",
		// a renamed or mistyped overlay stalled the chain behind it with a
		// false reason and `run --once` exiting 0.
		return &Env{Path: p, env: env, Err: fmt.Errorf("environment %s: %w (a typo in ferry.yaml, or the overlay was renamed or deleted)", env.Name, err)}
	case err != nil:
		return &Env{Path: path.Join(path.Clean(env.Overlay), overlays.KustomizationNames[0]), Err: err, env: env}
	}
	blob, idErr := snap.ObjectID(p)
	if idErr == nil {
		if e := recentEnvs.get(env, p, blob); e != nil {
			return e
		}
	}
	data, err := snap.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		// A symbolic link that leaves the repository or points nowhere.
		return &Env{Path: p, env: env, Err: fmt.Errorf("%s at %s is a symbolic link that leaves the repository or points nowhere", p, ledger.ShortHash(snap.Hash()))}
	}
	if err != nil {
		return &Env{Path: p, env: env, Err: fmt.Errorf("read %s at %s: %w", p, ledger.ShortHash(snap.Hash()), err)}
	}
	images, err := overlays.ReadImages(data)
	if err != nil {
		return &Env{Path: p, env: env, Err: fmt.Errorf("%s at %s: %w", p, ledger.ShortHash(snap.Hash()), err)}
	}
	// Indexed now, not on first use: the Env may be shared by passes
	// running beside each other (a status read, an alert's rollback).
	e := &Env{Path: p, Data: data, Images: images, env: env, index: overlays.NewIndex(images)}
	if idErr == nil {
		recentEnvs.put(env, p, blob, e)
	}
	return e
}

// recentEnvs keeps each environment's overlay as last read, by its blob:
// a pass whose commit did not change an overlay (most passes, and every
// environment but the one a promotion wrote) reuses it instead of parsing
// 10,000 images again. One entry per environment, so it does not grow.
var recentEnvs = &envCache{m: map[string]envCached{}}

type envCache struct {
	mu sync.Mutex
	m  map[string]envCached // env name + path
}

type envCached struct {
	env  *config.Environment
	blob string
	e    *Env
}

// maxRecentEnvs bounds the cache across config reloads that rename
// environments.
const maxRecentEnvs = 64

func (c *envCache) get(env *config.Environment, p, blob string) *Env {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[env.Name+"\x00"+p]; ok && v.env == env && v.blob == blob {
		return v.e
	}
	return nil
}

func (c *envCache) put(env *config.Environment, p, blob string, e *Env) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxRecentEnvs {
		c.m = map[string]envCached{}
	}
	c.m[env.Name+"\x00"+p] = envCached{env: env, blob: blob, e: e}
}

// Entry finds app's images entry (never a canary's).
func (e *Env) Entry(app *config.App) (overlays.Image, bool) {
	if e.index == nil {
		e.index = overlays.NewIndex(e.Images)
	}
	return e.index.App(app.Image, app.Name, e.env.CanaryEntry(app))
}

// Version is the version of app the environment runs; zero when none.
func (e *Env) Version(app *config.App) ledger.Version {
	im, ok := e.Entry(app)
	if !ok {
		return ledger.Version{}
	}
	return ledger.Version{Tag: im.NewTag, Digest: im.Digest}
}

// Assume records v as app's version in this env's in-memory images, so a
// dry run shows what later environments would take.
func (e *Env) Assume(app *config.App, v ledger.Version) {
	imgs := make([]overlays.Image, len(e.Images))
	copy(imgs, e.Images)
	cur, ok := e.Entry(app)
	e.index = nil
	if ok {
		for i, im := range imgs {
			if im == cur {
				imgs[i].NewTag, imgs[i].Digest = v.Tag, v.Digest
				e.Images = imgs
				return
			}
		}
	}
	e.Images = append(imgs, overlays.Image{Name: app.Image, NewTag: v.Tag, Digest: v.Digest})
}

// Assume is the state with v as app's version in env, in memory only: a
// dry run shows what later environments would take.
func (st *State) Assume(env *config.Environment, app *config.App, v ledger.Version) *State {
	out := *st
	out.Envs = make(map[string]*Env, len(st.Envs))
	for k, e := range st.Envs {
		out.Envs[k] = e
	}
	e := *st.Envs[env.Name]
	e.Assume(app, v)
	out.Envs[env.Name] = &e
	out.assumed = maps.Clone(st.assumed)
	if out.assumed == nil {
		out.assumed = map[[2]string]ledger.Version{}
	}
	out.assumed[[2]string{env.Name, app.Name}] = v
	return &out
}

// Assumed reports whether app's version in env is one Assume put there:
// ferry's own promotion, planned and not yet written, so no commit in
// history has set it.
func (st *State) Assumed(app *config.App, env string) bool {
	v, ok := st.assumed[[2]string{env, app.Name}]
	return ok && v.Same(st.Version(app, env), Moving(app))
}

// Assuming reports whether a dry run put versions in place (Assume).
func (st *State) Assuming() bool { return len(st.assumed) > 0 }

// Version is what env runs of app at this commit.
func (st *State) Version(app *config.App, env string) ledger.Version {
	if e, ok := st.Envs[env]; ok && e.Err == nil {
		return e.Version(app)
	}
	return ledger.Version{}
}

// Rejected reports whether v of app is rejected, with the record. A tag
// is the version of an app that follows semver or a regex: a rejected tag
// pushed again with other content is still rejected (a new build takes a
// new tag, or a person un-rejects it). For an app that follows a moving
// tag the digest is the version, so only that digest is.
//
// A version is one whatever its tag's spelling: a rejected 2.0.0 of a
// semver app is also v2.0.0 and 2. And a rejection that names a digest
// rejects that image under any tag, so an alias tag of a rejected build is
// not a way around it.
func (st *State) Rejected(app *config.App, v ledger.Version) (gitstate.Rejection, bool) {
	moving := Moving(app)
	return st.Rejections.Find(app.Name, func(r gitstate.Rejection) bool {
		switch {
		case r.Digest != "" && v.Digest != "" && r.Digest == v.Digest:
			return true
		case !sameVersion(app, r.Version, v.Tag):
			return false
		case moving:
			// The digest is the version: only the rejected one (or, not
			// knowing the candidate's, refusing is the safe side).
			return r.Digest == "" || v.Digest == "" || r.Digest == v.Digest
		}
		return true
	})
}

// sameVersion says whether tag is the rejected version: the same string,
// or for a semver app the same version (2.0.0, v2.0.0 and 2 are one).
func sameVersion(app *config.App, rejected, tag string) bool {
	if rejected == tag {
		return true
	}
	if app.Tags.Semver == "" {
		return false
	}
	a, errA := semver.NewVersion(rejected)
	b, errB := semver.NewVersion(tag)
	return errA == nil && errB == nil && a.Equal(b)
}

// Config is the pipeline the state was read for.
func (st *State) Config() *config.Pipeline { return st.cfg }

// Advance is the state after commits of ferry's own on top of st.Snap that
// changed only the given environments' overlays (and perhaps the
// rejections and freezes): the rest is carried over, not read again.
func (st *State) Advance(next *fleet.Snapshot, envs ...*config.Environment) *State {
	if parents := next.Parents(); len(parents) != 1 || parents[0] != st.Snap.Hash() {
		// The commit was made on a head that moved (someone else's commit
		// under it): anything may have changed, read it all.
		return Read(st.cfg, next, st.Notes)
	}
	out := *st
	out.Snap = next
	out.Envs = make(map[string]*Env, len(st.Envs))
	for k, v := range st.Envs {
		out.Envs[k] = v
	}
	for _, env := range envs {
		out.Envs[env.Name] = ReadEnv(next, env)
	}
	out.checkShared()
	out.readFiles()
	return &out
}

// Note is the verdict note on commit; empty when there is none.
func (st *State) Note(commit string) ledger.Note {
	if st.Notes == nil {
		return ledger.Note{}
	}
	text, ok, err := st.Notes.Get(commit)
	if err != nil || !ok {
		return ledger.Note{}
	}
	return ledger.ParseNote(text)
}

// Moving reports whether app follows a moving tag, whose digest is its
// version's identity (ledger.Version.Same).
func Moving(app *config.App) bool { return app.Tags.Digest != "" }

// Verifies reports whether a version that reaches env is verified there
// (analysed, checked for readiness or in its cluster, or delivered step by
// step): nothing moves past such an environment before it passed.
func Verifies(env *config.Environment) bool {
	return env.Analysis != "" || env.Verify != nil || env.Cluster != nil || env.Canary != nil
}

// VerifiesPromotions reports whether each new version of env, once
// committed, owes a verification (a canary environment's steps are
// analysed instead, unless it also names its own analysis).
func VerifiesPromotions(env *config.Environment) bool {
	return env.Analysis != "" || env.Verify != nil || env.Cluster != nil
}
