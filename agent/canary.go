package agent

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
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/overlays"
)

// canarySuffix names the canary Deployment's images: entry after the
// stable one's: registry.example/shop/checkout-canary.
const canarySuffix = "-canary"

// canaryStep is one route commit of a progressive delivery.
type canaryStep struct {
	route   overlays.RouteState
	analyze bool   // run the env's canary analysis once the step is committed
	label   string // for commit subjects, logs and status
}

// canaryPlan is an env's progressive delivery of one app.
type canaryPlan struct {
	cfg       *config.Canary
	strategy  string
	routePath string // repo path of the route file
	route     overlays.RouteSpec
	steps     []canaryStep
}

var restRoute = overlays.RouteState{StableWeight: 100}

// canaryPlanFor resolves env's canary settings for app.
func canaryPlanFor(app *config.App, env *config.Environment) (*canaryPlan, error) {
	c := env.Canary
	p := &canaryPlan{cfg: c, strategy: cmpOr(c.Strategy, config.StrategyCanary)}
	fields := []struct {
		out       *string
		tmpl, def string
	}{
		{&p.routePath, c.Route.File, "{{.App}}-route.yaml"},
		{&p.route.Name, c.Route.Name, "{{.App}}"},
		{&p.route.Stable, c.Route.Stable, "{{.App}}"},
		{&p.route.Canary, c.Route.Canary, "{{.App}}" + canarySuffix},
	}
	for _, f := range fields {
		t, err := template.New("route").Option("missingkey=error").Parse(cmpOr(f.tmpl, f.def))
		if err != nil {
			return nil, fmt.Errorf("canary route of %s in %s: %w", app.Name, env.Name, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, map[string]string{"App": app.Name}); err != nil {
			return nil, fmt.Errorf("canary route of %s in %s: %w", app.Name, env.Name, err)
		}
		*f.out = b.String()
	}
	p.routePath = path.Join(path.Clean(env.Overlay), p.routePath)
	deploy := canaryStep{route: restRoute, label: "deploy the canary"}
	switch p.strategy {
	case config.StrategyCanary:
		p.steps = append(p.steps, deploy)
		for _, w := range c.Steps {
			p.steps = append(p.steps, canaryStep{route: overlays.RouteState{StableWeight: 100 - w, CanaryWeight: w}, analyze: true,
				label: fmt.Sprintf("send %d%% of traffic to the canary", w)})
		}
	case config.StrategyBlueGreen:
		p.steps = []canaryStep{
			{route: restRoute, analyze: true, label: "deploy the idle colour and analyse it"},
			{route: overlays.RouteState{CanaryWeight: 100}, analyze: true, label: "switch all traffic to the new colour"},
		}
	case config.StrategyABTest:
		if c.Header != nil {
			p.route.Header = &overlays.HeaderMatch{Name: c.Header.Name, Value: c.Header.Value}
		}
		p.steps = []canaryStep{deploy, {route: overlays.RouteState{StableWeight: 100, HeaderMatch: true}, analyze: true,
			label: fmt.Sprintf("route requests with %s: %s to the canary", c.Header.Name, c.Header.Value)}}
	case config.StrategyShadow:
		p.steps = []canaryStep{deploy, {route: overlays.RouteState{StableWeight: 100, Mirror: true}, analyze: true,
			label: "mirror traffic to the canary"}}
	default:
		return nil, fmt.Errorf("canary of %s in %s: unknown strategy %q", app.Name, env.Name, p.strategy)
	}
	return p, nil
}

// canaryState is what the overlay says about a progressive delivery.
type canaryState struct {
	plan      *canaryPlan
	stable    Version
	canary    Version
	entry     overlays.Image // the canary's images: entry
	routeData []byte
	route     overlays.RouteState
	step      int // index of the step whose route is in place; -1: none
}

// active reports a delivery in progress: the canary runs another version.
func (cs *canaryState) active() bool { return !cs.canary.IsZero() && cs.canary != cs.stable }

func (cs *canaryState) stepLabel() string { return stepLabel(cs.step, len(cs.plan.steps)-1) }

// readCanary reads app's canary entry and route in env at st.
func (a *Agent) readCanary(st *fleetState, app *config.App, env *config.Environment) (*canaryState, error) {
	p, err := canaryPlanFor(app, env)
	if err != nil {
		return nil, err
	}
	es := st.envs[env.Name]
	if es.err != nil {
		return nil, es.err
	}
	cs := &canaryState{plan: p, stable: es.version(app), step: -1}
	stable, ok := es.entry(app)
	if !ok {
		return nil, fmt.Errorf("%s has no images: entry for %s", es.path, app.Name)
	}
	name := stable.Name + canarySuffix
	for _, im := range es.images {
		if im.Name == name {
			cs.entry, cs.canary = im, Version{Tag: im.NewTag, Digest: im.Digest}
		}
	}
	if cs.entry.Name == "" {
		return nil, fmt.Errorf("%s has no images: entry %s for the canary of %s (see overlays/examples)", es.path, name, app.Name)
	}
	cs.routeData, err = st.snap.ReadFile(p.routePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the canary of %s in %s needs the route file %s (see overlays/examples)", app.Name, env.Name, p.routePath)
	}
	if err != nil {
		return nil, err
	}
	if cs.route, err = overlays.ReadRoute(cs.routeData, p.route); err != nil {
		return nil, fmt.Errorf("%s: %w", p.routePath, err)
	}
	// The newest matching step: blue-green's first two steps differ only in analysis.
	for i := len(p.steps) - 1; i >= 0; i-- {
		if p.steps[i].route == cs.route {
			cs.step = i
			break
		}
	}
	return cs, nil
}

// canaryActive reports whether app has a progressive delivery in progress in env.
func (a *Agent) canaryActive(st *fleetState, app *config.App, env *config.Environment) bool {
	cs, err := a.readCanary(st, app, env)
	return err == nil && cs.active()
}

// canaryMove is what a pass does next for an active delivery.
type canaryMove struct {
	step   Step
	files  map[string][]byte
	msg    fleet.Message
	verify *Verification
}

// nextCanaryMove decides the next move of an active delivery from Git
// alone: the route in place, and the verdict note on the commit that put it
// there.
func (a *Agent) nextCanaryMove(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, cs *canaryState) (*canaryMove, error) {
	p := cs.plan
	n := len(p.steps) - 1
	step := Step{App: app.Name, Env: env.Name, From: sourceOf(env), Mode: modeOf(env), Current: cs.stable, Candidate: cs.canary}
	if _, rejected := st.rejections.IsRejected(app.Name, cs.canary.Tag, cs.canary.Digest); rejected {
		return a.abortCanary(st, app, env, cs, step, fmt.Sprintf("%s %s is rejected", app.Name, cs.canary.Tag), false)
	}
	if cs.step < 0 {
		step.Action = ActionError
		step.Reason = fmt.Sprintf("the route in %s matches no step of the %s delivery of %s %s; put it back or reject the version to abort",
			p.routePath, p.strategy, app.Name, cs.canary.Tag)
		return &canaryMove{step: step}, nil
	}
	cur := p.steps[cs.step]
	commit, err := a.lastOverlayCommit(ctx, st, env)
	if err != nil {
		return nil, err
	}
	needsVerdict := cur.analyze || (cs.step == 0 && env.Verify != nil && env.Verify.Readiness != "")
	if needsVerdict {
		vd, ok := readVerdict(st.notes, commit)
		if !ok {
			v := &Verification{App: app.Name, Env: env.Name, Commit: commit, Version: cs.canary, Stable: cs.stable, Canary: cs.canary,
				Ready: cs.step == 0 && env.Verify != nil && env.Verify.Readiness != "", Step: cs.stepLabel()}
			if cur.analyze {
				v.Template = p.cfg.Analysis
			}
			step.Action, step.Reason = ActionWait, fmt.Sprintf("step %s (%s): analysing", cs.stepLabel(), cur.label)
			return &canaryMove{step: step, verify: v}, nil
		}
		switch vd.Verdict {
		case analysis.Failed:
			return a.abortCanary(st, app, env, cs, step, fmt.Sprintf("analysis %s failed at step %s: %s", vd.Template, cs.stepLabel(), vd.Reason), true)
		case analysis.Inconclusive:
			step.Action = ActionWait
			step.Reason = fmt.Sprintf("step %s is held: analysis %s was inconclusive (%s); remove its note to analyse again (git notes --ref ferry remove %s) or reject %s to abort",
				cs.stepLabel(), vd.Template, vd.Reason, shortHash(commit), cs.canary.Tag)
			return &canaryMove{step: step}, nil
		}
	}
	files := map[string][]byte{}
	if cs.step == n {
		// Done: the stable Deployment takes the version, the route goes back to rest.
		es := st.envs[env.Name]
		data, err := bumpEntry(st.snap, es, app, env, "", cs.canary)
		if err != nil {
			return nil, err
		}
		files[es.path] = data
		if err := setRoute(files, cs, restRoute); err != nil {
			return nil, err
		}
		step.Action, step.Reason = ActionPromote, fmt.Sprintf("the %s delivery passed all %d steps", p.strategy, n)
		msg := promotionMessage(step)
		msg.Trailers = append(msg.Trailers, fleet.Trailer{Key: TrailerCanary, Value: fmt.Sprintf("%s completed", p.strategy)})
		return &canaryMove{step: step, files: files, msg: msg}, nil
	}
	next := p.steps[cs.step+1]
	if err := setRoute(files, cs, next.route); err != nil {
		return nil, err
	}
	label := stepLabel(cs.step+1, n)
	step.Action, step.Reason = ActionPromote, fmt.Sprintf("step %s: %s", label, next.label)
	return &canaryMove{step: step, files: files, msg: canaryMessage(step, cs.canary, label, next, cs.stepLabel())}, nil
}

func setRoute(files map[string][]byte, cs *canaryState, want overlays.RouteState) error {
	data, changed, err := overlays.SetRoute(cs.routeData, cs.plan.route, want)
	if err != nil {
		return fmt.Errorf("%s: %w", cs.plan.routePath, err)
	}
	if changed {
		files[cs.plan.routePath] = data
	}
	return nil
}

// abortCanary puts the route back to rest and the canary back on the
// stable version in one commit, and rejects the canary's version.
func (a *Agent) abortCanary(st *fleetState, app *config.App, env *config.Environment, cs *canaryState, step Step, reason string, reject bool) (*canaryMove, error) {
	es := st.envs[env.Name]
	files := map[string][]byte{}
	data, _, err := overlays.SetImage(es.data, overlays.Image{Name: cs.entry.Name, NewTag: cs.stable.Tag, Digest: cs.stable.Digest})
	if err != nil {
		return nil, fmt.Errorf("abort the canary of %s in %s: %w", app.Name, env.Name, err)
	}
	files[es.path] = data
	if err := setRoute(files, cs, restRoute); err != nil {
		return nil, err
	}
	if reject {
		rej, err := gitstate.AddRejection(st.rejectedData, gitstate.Rejection{
			App: app.Name, Version: cs.canary.Tag, Digest: cs.canary.Digest, Env: env.Name, Reason: reason, At: a.now().UTC(), By: "ferry",
		})
		if err != nil {
			return nil, fmt.Errorf("record %s %s as rejected: %w", app.Name, cs.canary, err)
		}
		files[RejectedFile] = rej
	}
	step.Action, step.Reason = ActionPromote, "abort: "+reason
	msg := fleet.Message{
		Subject: fmt.Sprintf("abort canary of %s %s in %s", app.Name, cs.canary.Tag, env.Name),
		Body:    fmt.Sprintf("All traffic goes back to %s %s.", app.Name, cs.stable.Tag),
		Trailers: []fleet.Trailer{
			{Key: TrailerApp, Value: app.Name},
			{Key: TrailerEnv, Value: env.Name},
			{Key: TrailerCanary, Value: cs.canary.Tag},
			{Key: TrailerStep, Value: cs.stepLabel()},
			{Key: TrailerWeight, Value: "0"},
			{Key: TrailerReason, Value: oneLine(reason)},
		},
	}
	if reject {
		msg.Trailers = append(msg.Trailers, fleet.Trailer{Key: TrailerRejects, Value: cs.canary.Tag})
	}
	return &canaryMove{step: step, files: files, msg: msg}, nil
}

func canaryMessage(step Step, v Version, label string, next canaryStep, passed string) fleet.Message {
	return fleet.Message{
		Subject: fmt.Sprintf("canary %s %s in %s: step %s, %s", step.App, v.Tag, step.Env, label, next.label),
		Trailers: []fleet.Trailer{
			{Key: TrailerApp, Value: step.App},
			{Key: TrailerEnv, Value: step.Env},
			{Key: TrailerCanary, Value: v.Tag},
			{Key: TrailerDigest, Value: v.Digest},
			{Key: TrailerStep, Value: label},
			{Key: TrailerWeight, Value: fmt.Sprint(next.route.CanaryWeight)},
			{Key: TrailerReason, Value: "step " + passed + " passed"},
		},
	}
}

// lastOverlayCommit is the newest commit that changed env's overlay: the
// one that put the current step in place.
func (a *Agent) lastOverlayCommit(ctx context.Context, st *fleetState, env *config.Environment) (string, error) {
	var hash string
	err := a.fleet.LogPath(ctx, st.snap, path.Clean(env.Overlay), func(c fleet.Commit) (bool, error) {
		hash = c.Hash
		return false, nil
	})
	if err == nil && hash == "" {
		err = fmt.Errorf("no commit changed %s", env.Overlay)
	}
	return hash, err
}

// canaryStartMessage makes a promotion into a progressively delivered env
// read as what it is: step 0, the canary Deployment takes the version.
func canaryStartMessage(m fleet.Message, app *config.App, env *config.Environment, step Step) fleet.Message {
	p, err := canaryPlanFor(app, env)
	n := 0
	label := "deploy the canary"
	if err == nil {
		n = len(p.steps) - 1
		label = p.steps[0].label
	}
	m.Subject = fmt.Sprintf("canary %s %s in %s: step %s, %s", step.App, step.Candidate.Tag, step.Env, stepLabel(0, n), label)
	m.Trailers = append(m.Trailers,
		fleet.Trailer{Key: TrailerCanary, Value: step.Candidate.Tag},
		fleet.Trailer{Key: TrailerStep, Value: stepLabel(0, n)},
		fleet.Trailer{Key: TrailerWeight, Value: "0"})
	return m
}

// restCanary adds to files (which may already hold env's kustomization)
// the canary entry set to v and the route at rest.
func (a *Agent) restCanary(st *fleetState, app *config.App, env *config.Environment, v Version, files map[string][]byte) error {
	cs, err := a.readCanary(st, app, env)
	if err != nil {
		return err
	}
	es := st.envs[env.Name]
	data := es.data
	if d, ok := files[es.path]; ok {
		data = d
	}
	data, _, err = overlays.SetImage(data, overlays.Image{Name: cs.entry.Name, NewTag: v.Tag, Digest: v.Digest})
	if err != nil {
		return fmt.Errorf("reset the canary of %s in %s: %w", app.Name, env.Name, err)
	}
	files[es.path] = data
	return setRoute(files, cs, restRoute)
}

// advanceCanary makes the next move of an active delivery, re-deciding on
// a newer head when the remote moved. It returns the step, the state to go
// on from, the commit pushed ("" when none) and the verification owed.
func (a *Agent) advanceCanary(ctx context.Context, st *fleetState, app *config.App, env *config.Environment, write bool) (Step, *fleetState, string, *Verification, error) {
	for attempt := 1; ; attempt++ {
		cs, err := a.readCanary(st, app, env)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}, st, "", nil, err
		}
		if !cs.active() {
			return Step{App: app.Name, Env: env.Name, Action: ActionNone, Reason: "the delivery already ended"}, st, "", nil, nil
		}
		mv, err := a.nextCanaryMove(ctx, st, app, env, cs)
		if err != nil {
			return Step{App: app.Name, Env: env.Name, Action: ActionError, Reason: err.Error()}, st, "", nil, err
		}
		if len(mv.files) == 0 || !write {
			return mv.step, st, "", mv.verify, nil
		}
		next, err := a.fleet.Commit(st.snap, mv.files, mv.msg, a.now())
		if err != nil {
			return mv.step, st, "", nil, fmt.Errorf("commit %s: %w", mv.msg.Subject, err)
		}
		err = a.fleet.Push(ctx, next)
		if err == nil {
			a.log.Info("canary", "app", app.Name, "env", env.Name, "version", cs.canary.Tag, "move", mv.step.Reason, "commit", shortHash(next.Hash()))
			if strings.HasPrefix(mv.msg.Subject, "promote ") {
				out, hash, err := a.afterPush(st, next, env, mv.step)
				return mv.step, out, hash, nil, err
			}
			if strings.HasPrefix(mv.msg.Subject, "abort ") {
				a.metrics.rollback(app.Name, env.Name)
			}
			if a.history.head == st.snap.Hash() {
				a.history.head = next.Hash()
			}
			fresh := a.readState(next) // the move may have changed rejections
			fresh.notes = st.notes
			return mv.step, fresh, next.Hash(), nil, nil
		}
		if !errors.Is(err, fleet.ErrNonFastForward) || attempt >= a.attempts {
			return mv.step, st, "", nil, fmt.Errorf("push %s: %w", mv.msg.Subject, err)
		}
		a.metrics.pushRetry()
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return mv.step, st, "", nil, err
		}
		fresh, err := a.fetchState(ctx)
		if err != nil {
			return mv.step, st, "", nil, err
		}
		st = fresh
	}
}
