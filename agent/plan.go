package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/overlays"
)

// Version is what an environment runs, or could run, of one app.
type Version struct {
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// IsZero reports an unknown version.
func (v Version) IsZero() bool { return v.Tag == "" && v.Digest == "" }

func (v Version) String() string {
	switch {
	case v.IsZero():
		return "(none)"
	case v.Digest == "":
		return v.Tag
	case v.Tag == "":
		return v.Digest
	}
	return v.Tag + "@" + shortDigest(v.Digest)
}

func shortDigest(d string) string {
	const keep = len("sha256:") + 12
	if len(d) > keep {
		return d[:keep]
	}
	return d
}

// Mode is how an environment receives versions.
type Mode string

// Modes of DESIGN.md's environment contract.
const (
	ModeAuto        Mode = "auto"
	ModeMirror      Mode = "mirror"
	ModePullRequest Mode = "pullRequest"
	ModeManual      Mode = "manual"
)

func modeOf(env *config.Environment) Mode {
	switch {
	case env.Mirror != "":
		return ModeMirror
	case env.PullRequest:
		return ModePullRequest
	case env.Auto:
		return ModeAuto
	}
	return ModeManual
}

// Action is what a pass does for one app in one environment.
type Action string

// Actions a plan can hold.
const (
	ActionNone    Action = "none"    // up to date, or nothing to move
	ActionPromote Action = "promote" // ferry commits the candidate
	ActionWait    Action = "wait"    // a candidate exists but this mode does not write it now
	ActionError   Action = "error"   // the candidate could not be found or judged
	ActionDeny    Action = "deny"    // the policies refuse the candidate
)

// Step is the plan for one app in one environment.
type Step struct {
	App       string  `json:"app"`
	Env       string  `json:"env"`
	From      string  `json:"from"` // source env, or "registry"
	Mode      Mode    `json:"mode"`
	Current   Version `json:"current"`
	Candidate Version `json:"candidate"`
	Action    Action  `json:"action"`
	Reason    string  `json:"reason"`
	// Decision is the gate's verdict, for steps that would move a version.
	Decision *Decision `json:"decision,omitempty"`
}

// Plan is every step of one pass, in environment order.
type Plan struct {
	Commit string `json:"commit"`
	Steps  []Step `json:"steps"`
}

// fromRegistry names the source of a first environment.
const fromRegistry = "registry"

// candidates are the newest allowed registry versions per app, or the error
// that prevented finding one.
type candidates map[string]candidate

type candidate struct {
	version Version
	err     error
}

// lookupCandidates asks the registry for the newest allowed tag of each app.
func (a *Agent) lookupCandidates(ctx context.Context, apps []*config.App) candidates {
	out := make(candidates, len(apps))
	results := make([]candidate, len(apps))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(a.regConc)
	for i, app := range apps {
		g.Go(func() error {
			results[i] = a.lookupCandidate(ctx, app)
			return nil
		})
	}
	_ = g.Wait() // errors are kept per app: one bad registry must not stop the others
	failed := 0
	for i, app := range apps {
		out[app.Name] = results[i]
		if results[i].err != nil {
			failed++
		}
	}
	a.metrics.registryPolls(len(apps)-failed, failed)
	a.metrics.registryPacing(a.reg)
	return out
}

func (a *Agent) lookupCandidate(ctx context.Context, app *config.App) candidate {
	tags, err := a.reg.Tags(ctx, app.Image, app.Insecure)
	if err != nil {
		return candidate{err: err}
	}
	tag, ok := a.selectors[app.Name].Select(tags)
	if !ok {
		return candidate{err: fmt.Errorf("no tag of %s matches %s", app.Image, describeTags(app.Tags))}
	}
	desc, err := a.reg.Resolve(ctx, app.Image, tag, app.Insecure)
	if err != nil {
		return candidate{err: err}
	}
	return candidate{version: Version{Tag: tag, Digest: desc.Digest}}
}

func describeTags(t config.TagPolicy) string {
	switch {
	case t.Semver != "":
		return "semver " + t.Semver
	case t.Regex != "":
		return "regex " + t.Regex
	}
	return "tag " + t.Digest
}

// fleetState is every environment's images as one snapshot holds them,
// with the rejections and freezes recorded next to them.
type fleetState struct {
	snap         *fleet.Snapshot
	notes        *fleet.Notes // verdicts of analyses; nil when no env analyses
	envs         map[string]*envState
	rejections   *gitstate.Rejections
	rejectedData []byte
	freezes      *gitstate.Freezes
	freezeData   []byte
	// err is set when the rejections or freezes cannot be read: then
	// nothing is promoted (fail closed).
	err error
}

type envState struct {
	path   string // overlays/<env>/kustomization.yaml
	data   []byte // nil when the file does not exist yet
	images []overlays.Image
	err    error // the overlay could not be read: nothing moves into or out of it
}

func kustomizationPath(env *config.Environment) string {
	return path.Join(path.Clean(env.Overlay), "kustomization.yaml")
}

func (a *Agent) readState(snap *fleet.Snapshot) *fleetState {
	st := &fleetState{snap: snap, envs: make(map[string]*envState, len(a.order))}
	for _, env := range a.order {
		st.envs[env.Name] = readEnv(snap, env)
	}
	var errs []error
	var err error
	st.rejectedData, err = readOptional(snap, RejectedFile)
	errs = append(errs, err)
	if st.rejections, err = gitstate.ParseRejections(RejectedFile, st.rejectedData); err != nil {
		errs = append(errs, fmt.Errorf("%s at %s: %w", RejectedFile, shortHash(snap.Hash()), err))
	}
	st.freezeData, err = readOptional(snap, FreezeFile)
	errs = append(errs, err)
	if st.freezes, err = gitstate.ParseFreezes(FreezeFile, st.freezeData); err != nil {
		errs = append(errs, fmt.Errorf("%s at %s: %w", FreezeFile, shortHash(snap.Hash()), err))
	}
	st.err = errors.Join(errs...)
	return st
}

// readOptional reads a file that may be absent (nil, no error).
func readOptional(snap *fleet.Snapshot, name string) ([]byte, error) {
	data, err := snap.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// readEnv reads one overlay; a broken overlay is kept as an error so the
// other environments still reconcile.
func readEnv(snap *fleet.Snapshot, env *config.Environment) *envState {
	p := kustomizationPath(env)
	data, err := snap.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &envState{path: p}
	}
	if err != nil {
		return &envState{path: p, err: fmt.Errorf("read %s at %s: %w", p, shortHash(snap.Hash()), err)}
	}
	images, err := overlays.ReadImages(data)
	if err != nil {
		return &envState{path: p, err: fmt.Errorf("%s at %s: %w", p, shortHash(snap.Hash()), err)}
	}
	return &envState{path: p, data: data, images: images}
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// entry finds the images entry of app: by image name, by newName, or by app name.
func (es *envState) entry(app *config.App) (overlays.Image, bool) {
	for _, match := range []func(overlays.Image) bool{
		func(im overlays.Image) bool { return im.Name == app.Image },
		func(im overlays.Image) bool { return im.NewName == app.Image },
		func(im overlays.Image) bool { return im.Name == app.Name },
	} {
		for _, im := range es.images {
			if match(im) && !es.isCanary(im) {
				return im, true
			}
		}
	}
	return overlays.Image{}, false
}

// isCanary reports the canary Deployment's entry of another entry
// (NAME-canary next to NAME): it never counts as what the env runs.
func (es *envState) isCanary(im overlays.Image) bool {
	base, ok := strings.CutSuffix(im.Name, "-canary")
	if !ok {
		return false
	}
	for _, other := range es.images {
		if other.Name == base {
			return true
		}
	}
	return false
}

func (es *envState) version(app *config.App) Version {
	im, ok := es.entry(app)
	if !ok {
		return Version{}
	}
	return Version{Tag: im.NewTag, Digest: im.Digest}
}

// decide computes the step for app in env from the state, the registry
// candidates and the promotions ferry already made.
func (a *Agent) decide(st *fleetState, cands candidates, app *config.App, env *config.Environment) Step {
	s := Step{App: app.Name, Env: env.Name, Mode: modeOf(env)}
	if st.err != nil {
		s.Action, s.Reason = ActionError, st.err.Error()
		return s
	}
	if err := st.envs[env.Name].err; err != nil {
		s.Action, s.Reason = ActionError, err.Error()
		return s
	}
	s.Current = st.envs[env.Name].version(app)
	if src := sourceOf(env); src != "" && st.envs[src].err != nil {
		s.From = src
		s.Action, s.Reason = ActionError, fmt.Sprintf("source %s is unreadable", src)
		return s
	}
	switch {
	case env.Mirror != "":
		s.From = env.Mirror
		s.Candidate = st.envs[env.Mirror].version(app)
	case env.From != "":
		s.From = env.From
		s.Candidate = st.envs[env.From].version(app)
	default:
		s.From = fromRegistry
		c, ok := cands[app.Name]
		if !ok {
			s.Action, s.Reason = ActionNone, "registry not polled in this pass"
			return s
		}
		if c.err != nil {
			s.Action, s.Reason = ActionError, c.err.Error()
			return s
		}
		s.Candidate = c.version
	}
	s.Action, s.Reason = a.judge(st, s, app)
	if s.Action == ActionPromote && s.Mode != ModeAuto && s.Mode != ModeMirror {
		s.Action = ActionWait
		if s.Mode == ModePullRequest {
			s.Reason = "awaiting a pull request"
			if a.prs == nil {
				s.Reason = "awaiting pull-request promotion (needs git.provider)"
			}
		} else {
			s.Reason = "manual environment: promote by commit"
		}
	}
	return s
}

func sourceOf(env *config.Environment) string {
	if env.Mirror != "" {
		return env.Mirror
	}
	return env.From
}

// judge says whether the candidate should replace the current version.
func (a *Agent) judge(st *fleetState, s Step, app *config.App) (Action, string) {
	switch {
	case s.Candidate.IsZero():
		return ActionNone, fmt.Sprintf("%s runs no version of %s", s.From, app.Name)
	case s.Candidate == s.Current:
		return ActionNone, "up to date"
	case s.Mode == ModeMirror:
		return ActionPromote, "mirror " + s.From
	}
	if r, rejected := st.rejections.IsRejected(app.Name, s.Candidate.Tag, s.Candidate.Digest); rejected {
		return ActionNone, fmt.Sprintf("%s %s is rejected (%s); `ferry unreject %s %s` allows it again", app.Name, s.Candidate.Tag, r.Reason, app.Name, s.Candidate.Tag)
	}
	if a.history.promoted(app.Name, s.Env, s.Candidate) {
		return ActionNone, fmt.Sprintf("%s was promoted to %s before and later replaced; not promoting it again", s.Candidate, s.Env)
	}
	sel := a.selectors[app.Name]
	if s.Current.Tag != s.Candidate.Tag && sel.Allows(s.Current.Tag) && sel.Allows(s.Candidate.Tag) &&
		sel.Less(s.Candidate.Tag, s.Current.Tag) {
		return ActionNone, fmt.Sprintf("runs %s, newer than candidate %s", s.Current.Tag, s.Candidate.Tag)
	}
	return ActionPromote, fmt.Sprintf("%s has %s", s.From, s.Candidate)
}

// judgeStep decides a step and, when it would move a version, asks the gate.
func (a *Agent) judgeStep(ctx context.Context, ev *evidenceCache, st *fleetState, cands candidates, app *config.App, env *config.Environment) Step {
	step := a.decide(st, cands, app, env)
	if step.Action != ActionPromote && (step.Action != ActionWait || step.Mode != ModePullRequest) {
		return step
	}
	d, err := a.gate(ctx, ev, st, app, env, step)
	switch {
	case err != nil:
		step.Action, step.Reason = ActionError, err.Error()
		a.metrics.decision(env.Name, "error")
	case !d.Allow:
		step.Decision = d
		step.Action, step.Reason = ActionDeny, "denied: "+strings.Join(d.Deny, "; ")
		a.metrics.decision(env.Name, "deny")
	default:
		step.Decision = d
		a.metrics.decision(env.Name, "allow")
	}
	a.logDecision(step)
	return step
}

// logDecision logs a gate's verdict when it differs from the last one for
// the same (app, env, candidate): a denial is not repeated every pass.
func (a *Agent) logDecision(step Step) {
	key := seenKey(step)
	verdict := string(step.Action) + ":" + step.Reason
	if a.verdicts[key] == verdict {
		return
	}
	a.verdicts[key] = verdict
	attrs := []any{"app", step.App, "env", step.Env, "candidate", step.Candidate.String()}
	switch {
	case step.Action == ActionError:
		a.log.Error("cannot decide", append(attrs, "err", step.Reason)...)
	case step.Decision == nil:
	case step.Decision.Allow:
		a.log.Info("allowed", append(attrs, "policy", step.Decision.Policy, "warnings", step.Decision.Warn)...)
	default:
		a.log.Warn("denied", append(attrs, "policy", step.Decision.Policy, "reasons", step.Decision.Deny, "notes", step.Decision.Notes)...)
		a.notify(notify.Event{Kind: notify.Denial, App: step.App, Env: step.Env, Version: step.Candidate.Tag, From: step.From,
			Reason: "denied by policy " + step.Decision.Policy, Reasons: step.Decision.Deny})
	}
}

// assume records v as app's version in this env's in-memory images, so a
// dry run shows what later environments would take.
func (es *envState) assume(app *config.App, v Version) {
	for i, im := range es.images {
		if im.Name == app.Image || im.NewName == app.Image || im.Name == app.Name {
			es.images[i].NewTag, es.images[i].Digest = v.Tag, v.Digest
			return
		}
	}
	es.images = append(es.images, overlays.Image{Name: app.Image, NewTag: v.Tag, Digest: v.Digest})
}
