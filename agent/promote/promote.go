// Package promote writes a planned move into the fleet repo: a direct
// commit for automatic and mirror environments, a pull request whose body
// is the gate report for pull-request ones. It never commits an overlay
// that does not build, and never overwrites what someone pushed meanwhile:
// when the inputs of a decision moved, the move is stale and the caller
// decides again.
package promote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"testing/fstest"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/overlays"
)

// Renderer builds an overlay directory of a fleet tree (overlays.Render).
type Renderer func(fsys fs.FS, dir string) ([]byte, error)

// Promoter writes moves. Safe for concurrent use.
type Promoter struct {
	cfg    *config.Pipeline
	pub    *publish.Publisher
	render Renderer
	log    *slog.Logger
	// PRs and Branches are set when pull-request environments get pull
	// requests.
	prs      PullRequests
	branches Branches
	now      func() time.Time
}

// Options wire a Promoter. Publisher is shared by every writer of the
// clone, so a promotion never races a rollback on the branch.
type Options struct {
	Config    *config.Pipeline
	Publisher *publish.Publisher
	// Render checks that an edited overlay builds; nil: overlays.Render.
	Render   Renderer
	Logger   *slog.Logger
	PRs      PullRequests
	Branches Branches
	Now      func() time.Time
}

// New makes a Promoter.
func New(o Options) *Promoter {
	if o.Render == nil {
		o.Render = overlays.Render
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Promoter{cfg: o.Config, pub: o.Publisher, render: o.Render, log: o.Logger, prs: o.PRs, branches: o.Branches, now: o.Now}
}

// Builder makes the commit of a move on a state of the fleet repo.
type Builder func(st *state.State) (publish.Edit, error)

// Written is what Write did.
type Written struct {
	Commit *fleet.Snapshot // the pushed commit; nil when nothing was written
	Head   *fleet.Snapshot // the branch head after Write
	// Stale: the decision's inputs changed on the branch before the push
	// (a person's commit, a rollback, a new freeze): decide again on Head.
	Stale bool
}

// Write commits the move that build makes on st, and pushes it. The edit
// is built (and its overlay rendered) before the writer's turn; on a head
// that moved, it is applied again only when none of the decision's inputs
// changed: the overlays of env and of its source, the rejections, the
// freezes, the approvals and the policies. Otherwise the move is stale.
func (p *Promoter) Write(ctx context.Context, st *state.State, env *config.Environment, what string, build Builder) (Written, error) {
	// Built outside the writer's turn: a render costs milliseconds, and a
	// rollback queued behind this transaction should not wait for it.
	edit, err := build(st)
	if err != nil {
		return Written{}, err
	}
	stale := false
	// On the pass's read: a fetch here would cost a round trip, and the
	// push refuses to land on a branch that moved since.
	res, err := p.pub.PublishOn(ctx, what, false, st.Snap, p.change(st, env, build, edit, &stale))
	if err != nil {
		return Written{}, err
	}
	w := Written{Head: res.Head, Stale: stale}
	if n := len(res.Commits); n > 0 {
		w.Commit = res.Commits[n-1]
	}
	return w, nil
}

// change is a move's publish.Change: edit (built on st) on st's head; on
// a head that moved, built again when none of the decision's inputs
// changed, else nothing, and stale says so.
func (p *Promoter) change(st *state.State, env *config.Environment, build Builder, edit publish.Edit, stale *bool) publish.Change {
	inputs := p.inputs(st, env)
	return func(_ context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		*stale = false
		if head.Hash() == st.Snap.Hash() {
			return []publish.Edit{edit}, nil
		}
		if !sameInputs(st.Snap, head, inputs) {
			*stale = true
			return nil, nil
		}
		// Only other files moved: build again on the new head, so the
		// render sees its bases as they are now.
		e, err := build(state.Read(p.cfg, head, st.Notes))
		if err != nil {
			return nil, err
		}
		return []publish.Edit{e}, nil
	}
}

// Staged is a move committed into a chain, not pushed yet.
type Staged struct {
	Commit *fleet.Snapshot // the local commit; nil when nothing was written
	// Stale reports, after the chain's Push, that the branch had moved and
	// the decision's inputs with it: the move was dropped from the push.
	Stale *bool
}

// Stage is Write into chain: the move that build makes on st (the chain's
// tip) is committed in the clone and pushed with the rest of the chain by
// chain.Push. When the branch moved before that push landed, the move is
// applied again on the new head under Write's rule (only when none of its
// inputs changed).
func (p *Promoter) Stage(ctx context.Context, chain *publish.Chain, st *state.State, env *config.Environment, what string, build Builder) (Staged, error) {
	edit, err := build(st)
	if err != nil {
		return Staged{}, err
	}
	stale := new(bool)
	commits, err := chain.Add(ctx, what, p.change(st, env, build, edit, stale))
	if err != nil {
		return Staged{}, err
	}
	s := Staged{Stale: stale}
	if n := len(commits); n > 0 {
		s.Commit = commits[n-1]
	}
	return s, nil
}

// inputs are the paths a decision for env read. ferry.yaml and the
// policies are among them: a decision made under old rules is stale.
func (p *Promoter) inputs(st *state.State, env *config.Environment) []string {
	// The approvals too: a rejection cast while a pass decided must stop it.
	paths := []string{st.Envs[env.Name].Path, gitstate.RejectionsFile, gitstate.FreezesFile, gitstate.ApprovalsFile, "ferry.yaml"}
	if src := plan.SourceOf(env); src != "" {
		paths = append(paths, st.Envs[src].Path)
	}
	policies := "policies"
	if p.cfg.Policies != "" {
		policies = path.Clean(p.cfg.Policies)
	}
	return append(paths, policies, path.Clean(env.Overlay))
}

// sameInputs compares Git object IDs, reading no content. Any read error
// but absence on both sides counts as a change: when in doubt, decide again.
func sameInputs(a, b *fleet.Snapshot, paths []string) bool {
	for _, p := range paths {
		x, errA := a.ObjectID(p)
		y, errB := b.ObjectID(p)
		if (errA == nil) != (errB == nil) || x != y {
			return false
		}
		if errA != nil && !errors.Is(errA, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// Promotion is the builder of a plain promotion of step's candidate.
func (p *Promoter) Promotion(step plan.Step, app *config.App, env *config.Environment) Builder {
	return func(st *state.State) (publish.Edit, error) {
		data, err := Bump(st, p.render, app, env, "", step.Candidate)
		if err != nil {
			return publish.Edit{}, err
		}
		rec := &ledger.Promotion{App: app.Name, Env: env.Name, Version: step.Candidate, Gate: gateOf(step)}
		return publish.Edit{Files: map[string][]byte{st.Envs[env.Name].Path: data}, Record: rec}, nil
	}
}

func gateOf(step plan.Step) ledger.Gate {
	if step.Decision == nil {
		return ledger.Gate{From: step.From}
	}
	return step.Decision.Record(step.From)
}

// Bump returns env's kustomization with app's entry (or the entry called
// name) set to v, after proving that the overlay still builds and that a
// rendered workload uses v.
func Bump(st *state.State, render Renderer, app *config.App, env *config.Environment, name string, v ledger.Version) ([]byte, error) {
	es := st.Envs[env.Name]
	// Errors here are Terminal: the same edit on the same tree fails the
	// same way, so a rollback that hits one is given up, not retried.
	if es.Err != nil {
		return nil, publish.Terminal(es.Err)
	}
	if es.Data == nil {
		return nil, publish.Terminal(fmt.Errorf("overlay %s has no kustomization file (%s) at %s; not committed",
			env.Overlay, strings.Join(overlays.KustomizationNames, ", "), ledger.ShortHash(st.Snap.Hash())))
	}
	if name == "" {
		// Keep the entry's own name (it may match by newName or by the app's
		// name), so the edit changes it instead of adding a second entry.
		name = app.Image
		if im, ok := es.Entry(app); ok {
			name = im.Name
		}
	}
	data, changed, err := overlays.SetImage(es.Data, overlays.Image{Name: name, NewTag: v.Tag, Digest: v.Digest})
	if err != nil {
		return nil, publish.Terminal(fmt.Errorf("bump %s in %s: %w", app.Name, es.Path, err))
	}
	if !changed {
		// A commit that changes nothing would record a promotion that did
		// not happen.
		return nil, publish.Terminal(fmt.Errorf("bump %s in %s: the edit changed nothing", app.Name, es.Path))
	}
	rendered, err := render(WithFile(st.Snap.FS(), es.Path, data), path.Clean(env.Overlay))
	if err != nil {
		return nil, publish.Terminal(fmt.Errorf("overlay %s does not build with %s %s; not committed: %w", env.Overlay, app.Name, v, err))
	}
	if rendered == nil {
		return data, nil // a renderer that only checks the build (the simulation's)
	}
	images, err := overlays.RenderImages(rendered)
	if err != nil {
		return nil, publish.Terminal(fmt.Errorf("read images rendered from %s: %w", env.Overlay, err))
	}
	// kustomize silently ignores an images entry that matches no
	// container: without this check the commit would promote nothing.
	if !usesVersion(images, v) {
		return nil, publish.Terminal(fmt.Errorf("overlay %s renders no workload with %s %s (images entry %q matches no container image); not committed",
			env.Overlay, app.Name, v, name))
	}
	return data, nil
}

// usesVersion matches on the suffix kustomize renders: "@digest" when the
// version is pinned (the tag may or may not precede it), else ":tag".
func usesVersion(images []string, v ledger.Version) bool {
	for _, im := range images {
		switch {
		case v.Digest != "" && strings.HasSuffix(im, "@"+v.Digest):
			return true
		case v.Digest == "" && strings.HasSuffix(im, ":"+v.Tag):
			return true
		}
	}
	return false
}

// WithFile is fsys with one file replaced, so an edit renders before it is
// committed.
func WithFile(fsys fs.FS, name string, data []byte) fs.FS {
	return overlayFS{base: fsys, name: name, file: &fstest.MapFile{Data: data, Mode: 0o644}}
}

type overlayFS struct {
	base fs.FS
	name string
	file *fstest.MapFile
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if name == o.name {
		return fstest.MapFS{name: o.file}.Open(name)
	}
	return o.base.Open(name)
}

// ReadFile lets fs.ReadFile skip a Stat.
func (o overlayFS) ReadFile(name string) ([]byte, error) {
	if name == o.name {
		return append([]byte(nil), o.file.Data...), nil
	}
	return fs.ReadFile(o.base, name)
}

// ReadDir keeps directory listings consistent with the replaced file.
func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return fs.ReadDir(o.base, name)
}

// Stat answers for the replaced file (and for the rest, through Open).
func (o overlayFS) Stat(name string) (fs.FileInfo, error) {
	if name == o.name {
		return fstest.MapFS{name: o.file}.Stat(name)
	}
	return fs.Stat(o.base, name)
}
