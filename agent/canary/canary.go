// Package canary delivers a version progressively, each step a commit: the
// canary Deployment takes the version (step 0), then each step moves the
// Gateway API HTTPRoute's traffic (weights, a header rule, a mirror), each
// analysed before the next, and the last makes the version stable. A
// failed step aborts in one commit. Its state is read from Git alone (the
// route in place and the verdict note on the commit that put it there), so
// a restart resumes where the route is.
package canary

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/overlays"
)

// step is one route state of a delivery.
type step struct {
	route   overlays.RouteState
	analyze bool   // run the env's canary analysis once the step is committed
	label   string // for commit subjects, logs and status
}

// Plan is env's delivery for one app: where its route is, and its steps
// (step 0 deploys the canary; the last step's successor is the promotion).
type Plan struct {
	Strategy  string
	Analysis  string
	RoutePath string
	Route     overlays.RouteSpec
	Entry     string // the canary's images entry name; "" for stable name + overlays.CanarySuffix
	steps     []step
}

// Steps is the number of steps after step 0.
func (p *Plan) Steps() int { return len(p.steps) - 1 }

// Label is what step i does.
func (p *Plan) Label(i int) string {
	if i < 0 || i >= len(p.steps) {
		return ""
	}
	return p.steps[i].label
}

// restRoute is all traffic on stable: every delivery starts here and every
// end (promotion, abort, rollback) returns here.
var restRoute = overlays.RouteState{StableWeight: 100}

// PlanFor resolves env's canary settings for app.
func PlanFor(app *config.App, env *config.Environment) (*Plan, error) {
	c := env.Canary
	p := &Plan{Strategy: c.Strategy, Analysis: c.Analysis, Entry: env.CanaryEntry(app)}
	if p.Strategy == "" {
		p.Strategy = config.StrategyCanary
	}
	fields := []struct {
		out       *string
		tmpl, def string
	}{
		{&p.RoutePath, c.Route.File, "{{.App}}-route.yaml"},
		{&p.Route.Name, c.Route.Name, "{{.App}}"},
		{&p.Route.Stable, c.Route.Stable, "{{.App}}"},
		{&p.Route.Canary, c.Route.Canary, "{{.App}}" + overlays.CanarySuffix},
	}
	for _, f := range fields {
		tmpl := f.tmpl
		if tmpl == "" {
			tmpl = f.def
		}
		// missingkey=error: a misspelt field fails here instead of naming
		// a route file or backend that does not exist.
		t, err := template.New("route").Option("missingkey=error").Parse(tmpl)
		if err != nil {
			return nil, fmt.Errorf("canary route of %s in %s: %w", app.Name, env.Name, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, map[string]string{"App": app.Name}); err != nil {
			return nil, fmt.Errorf("canary route of %s in %s: %w", app.Name, env.Name, err)
		}
		*f.out = b.String()
	}
	// Relative to the overlay: each environment's route is its own file,
	// moved only by that environment's commits.
	p.RoutePath = path.Join(path.Clean(env.Overlay), p.RoutePath)
	deploy := step{route: restRoute, label: "deploy the canary"}
	switch p.Strategy {
	case config.StrategyCanary:
		p.steps = append(p.steps, deploy)
		for _, w := range c.Steps {
			p.steps = append(p.steps, step{route: overlays.RouteState{StableWeight: 100 - w, CanaryWeight: w}, analyze: true,
				label: fmt.Sprintf("send %d%% of traffic to the canary", w)})
		}
	case config.StrategyBlueGreen:
		p.steps = []step{
			{route: restRoute, analyze: true, label: "deploy the idle colour and analyse it"},
			{route: overlays.RouteState{CanaryWeight: 100}, analyze: true, label: "switch all traffic to the new colour"},
		}
	case config.StrategyABTest:
		if c.Header == nil {
			return nil, fmt.Errorf("canary of %s in %s: the abTest strategy needs header", app.Name, env.Name)
		}
		p.Route.Header = &overlays.HeaderMatch{Name: c.Header.Name, Value: c.Header.Value}
		p.steps = []step{deploy, {route: overlays.RouteState{StableWeight: 100, HeaderMatch: true}, analyze: true,
			label: fmt.Sprintf("route requests with %s: %s to the canary", c.Header.Name, c.Header.Value)}}
	case config.StrategyShadow:
		p.steps = []step{deploy, {route: overlays.RouteState{StableWeight: 100, Mirror: true}, analyze: true,
			label: "mirror traffic to the canary"}}
	default:
		return nil, fmt.Errorf("canary of %s in %s: unknown strategy %q", app.Name, env.Name, p.Strategy)
	}
	return p, nil
}

// State is what the overlay says about a delivery.
type State struct {
	Plan      *Plan
	Stable    ledger.Version
	Canary    ledger.Version
	Entry     overlays.Image // the canary's images entry
	RouteData []byte
	Route     overlays.RouteState
	Step      int // index of the step whose route is in place; -1: none
}

// Active reports a delivery in progress: the canary runs another version.
func (cs *State) Active(moving bool) bool {
	return !cs.Canary.IsZero() && !cs.Canary.Same(cs.Stable, moving)
}

// StepLabel is "i/n" of the step in place.
func (cs *State) StepLabel() string { return ledger.StepLabel(cs.Step, cs.Plan.Steps()) }

// Read reads app's canary entry and route in env at st.
func Read(st *state.State, app *config.App, env *config.Environment) (*State, error) {
	p, err := PlanFor(app, env)
	if err != nil {
		return nil, err
	}
	es := st.Envs[env.Name]
	if es.Err != nil {
		return nil, es.Err
	}
	cs := &State{Plan: p, Stable: es.Version(app), Step: -1}
	stable, ok := es.Entry(app)
	if !ok {
		return nil, fmt.Errorf("%s has no images: entry for %s", es.Path, app.Name)
	}
	name := p.Entry
	if name == "" {
		name = stable.Name + overlays.CanarySuffix
	}
	for _, im := range es.Images {
		if im.Name == name {
			cs.Entry, cs.Canary = im, ledger.Version{Tag: im.NewTag, Digest: im.Digest}
		}
	}
	if cs.Entry.Name == "" {
		return nil, fmt.Errorf("%s has no images: entry %s for the canary of %s (see overlays/examples)", es.Path, name, app.Name)
	}
	cs.RouteData, err = st.Snap.ReadFile(p.RoutePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the canary of %s in %s needs the route file %s (see overlays/examples)", app.Name, env.Name, p.RoutePath)
	}
	if err != nil {
		return nil, err
	}
	if cs.Route, err = overlays.ReadRoute(cs.RouteData, p.Route); err != nil {
		return nil, fmt.Errorf("%s: %w", p.RoutePath, err)
	}
	// The newest matching step: blue-green's first two steps differ only in analysis.
	for i := len(p.steps) - 1; i >= 0; i-- {
		if p.steps[i].route == cs.Route {
			cs.Step = i
			break
		}
	}
	return cs, nil
}

// maxDeliveryScan bounds the walk back to a delivery's step 0.
const maxDeliveryScan = 500

// InProgress reports whether app has a delivery of ferry's in progress in
// env at st, with its state. The overlay alone cannot say so: a canary
// entry at another version than stable is also what a person leaves when
// they put stable back after a delivery (a revert), or an entry left at
// an old tag. Continuing such a "delivery" would promote, bypassing the
// gate, a version the person removed, or an older one. So the canary's
// version must have been put there by ferry's step 0 of this delivery,
// and nothing since may have ended it (its promotion, an abort, a
// rollback) or taken it over (a person's change to the app's entries or
// route).
func InProgress(ctx context.Context, log state.Log, st *state.State, app *config.App, env *config.Environment) (*State, bool, error) {
	if env.Canary == nil {
		return nil, false, nil
	}
	cs, err := Read(st, app, env)
	if err != nil {
		return nil, false, err
	}
	if !cs.Active(state.Moving(app)) {
		return cs, false, nil
	}
	started, err := startedByFerry(ctx, log, st, app, env, cs)
	return cs, started, err
}

// startedByFerry walks env's overlay history back to the commit that put
// the canary's version in place, and reports whether it is ferry's step 0
// of a delivery nothing has ended or taken over since.
func startedByFerry(ctx context.Context, log state.Log, st *state.State, app *config.App, env *config.Environment, cs *State) (bool, error) {
	es := st.Envs[env.Name]
	stable, _ := es.Entry(app)
	// entries is what a person's commit could change of this delivery:
	// the stable and canary entries and the route.
	entries := func(s *fleet.Snapshot) string {
		var b strings.Builder
		if data, err := s.ReadFile(es.Path); err == nil {
			if images, err := overlays.ReadImages(data); err == nil {
				for _, im := range images {
					if im.Name == cs.Entry.Name || im.Name == stable.Name {
						fmt.Fprintf(&b, "%s=%s@%s;", im.Name, im.NewTag, im.Digest)
					}
				}
			}
		}
		id, _ := s.ObjectID(cs.Plan.RoutePath)
		return b.String() + id
	}
	moving := state.Moving(app)
	started, scanned := false, 0
	err := log.LogPath(ctx, st.Snap, path.Clean(env.Overlay), func(c fleet.Commit) (bool, error) {
		scanned++
		if scanned > maxDeliveryScan {
			return false, nil
		}
		switch rec := ledger.Parse(c.Message).(type) {
		case *ledger.CanaryStep:
			if rec.App == app.Name && rec.Env == env.Name {
				if !rec.Version.Same(cs.Canary, moving) {
					return false, nil // another version's delivery: not this one
				}
				// A step 0 proposed while awaiting approvals, landed by a
				// person, did not pass the gate: not ferry's start.
				started = rec.Step == 0 && (rec.Gate == nil || rec.Gate.Awaiting == "")
				return !started, nil // a later step of this delivery: go on back
			}
			if rec.Env == env.Name {
				return true, nil // another app's step: its own entries only
			}
		case *ledger.Promotion:
			if rec.App == app.Name && rec.Env == env.Name {
				return false, nil // the delivery ended in its promotion
			}
			if rec.Env == env.Name {
				return true, nil
			}
		case *ledger.Abort:
			if rec.App == app.Name && rec.Env == env.Name {
				return false, nil
			}
			if rec.Env == env.Name {
				return true, nil
			}
		case *ledger.Rollback:
			if rec.App == app.Name {
				return false, nil // a rollback of this app here (or of what env mirrors) ends it
			}
		}
		// A person's commit (or one ferry wrote for another reason): it takes
		// the delivery over when it changed this app's entries or route.
		if len(c.Parents) == 0 {
			return false, nil
		}
		cur, err := log.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		par, err := log.Snapshot(c.Parents[0])
		if err != nil {
			return false, err
		}
		return entries(cur) == entries(par), nil
	})
	return started, err
}

// StartGate is the gate decision step 0 of the delivery in progress
// recorded (its Ferry-Approved-By among it): the newest step 0 of this
// app, env and version in env's overlay history, before anything that
// ended a delivery there. Zero when there is none within the scan.
func StartGate(ctx context.Context, log state.Log, st *state.State, app *config.App, env *config.Environment, cs *State) (ledger.Gate, error) {
	var g ledger.Gate
	moving, scanned := state.Moving(app), 0
	err := log.LogPath(ctx, st.Snap, path.Clean(env.Overlay), func(c fleet.Commit) (bool, error) {
		scanned++
		if scanned > maxDeliveryScan {
			return false, nil
		}
		switch rec := ledger.Parse(c.Message).(type) {
		case *ledger.CanaryStep:
			if rec.App != app.Name || rec.Env != env.Name {
				return true, nil
			}
			if !rec.Version.Same(cs.Canary, moving) {
				return false, nil
			}
			if rec.Step == 0 {
				if rec.Gate != nil {
					g = *rec.Gate
				}
				return false, nil
			}
		case *ledger.Promotion:
			if rec.App == app.Name && rec.Env == env.Name {
				return false, nil
			}
		case *ledger.Abort:
			if rec.App == app.Name && rec.Env == env.Name {
				return false, nil
			}
		}
		return true, nil
	})
	return g, err
}

// StepCommit is the commit that put the step in place: the newest commit
// that changed this app's route file or its canary entry's version. Other
// apps' commits to the same overlay are not it.
func StepCommit(ctx context.Context, log state.Log, st *state.State, app *config.App, env *config.Environment, cs *State) (fleet.Commit, error) {
	var found fleet.Commit
	kust := st.Envs[env.Name].Path
	canaryAt := func(s *fleet.Snapshot) ledger.Version {
		data, err := s.ReadFile(kust)
		if err != nil {
			return ledger.Version{}
		}
		images, err := overlays.ReadImages(data)
		if err != nil {
			return ledger.Version{}
		}
		for _, im := range images {
			if im.Name == cs.Entry.Name {
				return ledger.Version{Tag: im.NewTag, Digest: im.Digest}
			}
		}
		return ledger.Version{}
	}
	routeAt := func(s *fleet.Snapshot) string {
		id, _ := s.ObjectID(cs.Plan.RoutePath)
		return id
	}
	err := log.LogPath(ctx, st.Snap, path.Clean(env.Overlay), func(c fleet.Commit) (bool, error) {
		// A root commit has nothing to compare with: it put the step there.
		if len(c.Parents) == 0 {
			found = c
			return false, nil
		}
		cur, err := log.Snapshot(c.Hash)
		if err != nil {
			return false, err
		}
		par, err := log.Snapshot(c.Parents[0])
		if err != nil {
			return false, err
		}
		if routeAt(cur) != routeAt(par) || canaryAt(cur) != canaryAt(par) {
			found = c
			return false, nil
		}
		return true, nil
	})
	if err == nil && found.Hash == "" {
		err = fmt.Errorf("no commit put the canary of %s in %s in place", app.Name, env.Name)
	}
	return found, err
}
