package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/rollback"
	"github.com/ferry-dev/ferry/overlays"
)

// simView is the fleet repo at one commit as the checker reads it.
type simView struct {
	stable, canary map[string]string // env/app -> tag
	rejected       map[string]bool   // app/tag
	routes         map[string]overlays.RouteState
	routeErr       map[string]error
}

func readView(snap *fleet.Snapshot) simView {
	v := simView{stable: map[string]string{}, canary: map[string]string{}, rejected: map[string]bool{},
		routes: map[string]overlays.RouteState{}, routeErr: map[string]error{}}
	for _, env := range []string{"dev", "qa", "prod", "dr"} {
		data, err := snap.ReadFile("overlays/" + env + "/kustomization.yaml")
		if err != nil {
			continue
		}
		images, _ := overlays.ReadImages(data)
		for _, im := range images {
			for _, app := range simApps {
				switch im.Name {
				case "reg.sim/shop/" + app:
					v.stable[env+"/"+app] = im.NewTag
				case "reg.sim/shop/" + app + "-canary":
					v.canary[env+"/"+app] = im.NewTag
				}
			}
		}
	}
	if data, err := snap.ReadFile(gitstate.RejectionsFile); err == nil {
		if rs, err := gitstate.ParseRejections(gitstate.RejectionsFile, data); err == nil {
			for _, r := range rs.Rejected {
				v.rejected[r.App+"/"+r.Version] = true
			}
		}
	}
	for _, app := range simApps {
		data, err := snap.ReadFile("overlays/prod/" + app + "-route.yaml")
		if err != nil {
			continue
		}
		v.routes[app], v.routeErr[app] = overlays.ReadRoute(data, overlays.RouteSpec{Name: app, Stable: app, Canary: app + "-canary"})
	}
	return v
}

func newer(a, b string) bool {
	x, err1 := semver.NewVersion(a)
	y, err2 := semver.NewVersion(b)
	return err1 == nil && err2 == nil && x.GreaterThan(y)
}

// check reads the fleet repo's history (and notes) from a fresh clone and
// asserts the invariants of issue 17.
func (w *world) check(t testing.TB) {
	repo := w.open(t, "checker")
	head, err := repo.Fetch(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	notes, err := repo.FetchNotes(w.ctx, ledger.NotesRef)
	if err != nil {
		t.Fatal(err)
	}
	var commits []fleet.Commit
	if err := repo.Log(w.ctx, head, func(c fleet.Commit) (bool, error) { commits = append(commits, c); return true, nil }); err != nil {
		t.Fatal(err)
	}
	slices.Reverse(commits)
	w.commits = len(commits)
	// Failed verdicts anywhere: app/env/tag.
	failed := map[string]bool{}
	for _, c := range commits {
		text, ok, _ := notes.Get(c.Hash)
		if !ok {
			continue
		}
		for _, vd := range ledger.ParseNote(text).Verdicts {
			if vd.Verdict == ledger.Failed {
				failed[vd.App+"/"+vd.Env+"/"+vd.Version.Tag] = true
			}
		}
	}
	// arrived is when each env/app's current version arrived (its run's
	// first commit), as the rollback's clock-skew rule reads it.
	arrived := map[string]time.Time{}
	// alerted: the alert was about tag, or carried no version label and
	// began firing no more than rollback.ClockSkew before tag arrived in
	// env. The README's rule: within the skew ferry cannot tell which
	// version an unlabelled alert is about (two replicas, or a resend after
	// a restart, may judge it on either side of a person's commit).
	alerted := func(app, env, tag, fp string) bool {
		for _, a := range w.alerts {
			if a.fingerprint != fp || a.app != app || a.env != env {
				continue
			}
			if a.version == tag || (!a.labeled && !a.started.Before(arrived[env+"/"+app].Add(-rollback.ClockSkew))) {
				return true
			}
		}
		return false
	}
	bad := func(format string, args ...any) { w.errs = append(w.errs, fmt.Sprintf(format, args...)) }
	snap := func(c fleet.Commit) *fleet.Snapshot {
		s, err := repo.Snapshot(c.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	prev := readView(snap(commits[0]))
	for key := range prev.stable {
		arrived[key] = commits[0].Time
	}
	for _, c := range commits[1:] {
		cur := readView(snap(c))
		short := ledger.ShortHash(c.Hash)
		// After c is checked, the versions it changed arrived at its time.
		advance := func() {
			for key, tag := range cur.stable {
				if prev.stable[key] != tag {
					arrived[key] = c.Time
				}
			}
			prev = cur
		}
		// 5: every route's weights sum to 100, at every commit.
		for app, r := range cur.routes {
			if err := cur.routeErr[app]; err != nil {
				bad("%s: %s's route does not read: %v", short, app, err)
			} else if r.StableWeight+r.CanaryWeight != 100 {
				bad("%s: %s's route weights sum to %d", short, app, r.StableWeight+r.CanaryWeight)
			}
		}
		if c.Author.Name != "ferry" {
			advance() // a person's commit may do anything
			continue
		}
		rec := ledger.Parse(c.Message)
		if _, ok := rec.(*ledger.Change); ok {
			bad("%s: ferry wrote a commit that is no record: %q", short, rec.Subject())
		}
		// 1: every new rejection is made by a rollback or abort of that
		// version, for which a failed verdict or a firing alert exists.
		for key := range cur.rejected {
			if prev.rejected[key] {
				continue
			}
			app, tag, _ := strings.Cut(key, "/")
			switch r := rec.(type) {
			case *ledger.Rollback:
				if r.App != app || r.From.Tag != tag {
					bad("%s: %s rejects %s", short, r.Subject(), key)
				} else if !failed[app+"/"+r.Env+"/"+tag] && !alerted(app, r.Env, tag, r.Alert.Fingerprint) {
					bad("%s: %s rejects %s with no failed verdict and no alert about it in %s", short, r.Subject(), key, r.Env)
				}
			case *ledger.Abort:
				if r.App != app || r.Canary.Tag != tag || !r.Rejects {
					bad("%s: %s rejects %s", short, r.Subject(), key)
				} else if !failed[app+"/"+r.Env+"/"+tag] && !alerted(app, r.Env, tag, r.Alert.Fingerprint) {
					bad("%s: %s rejects %s with no failed verdict and no alert about it", short, r.Subject(), key)
				}
			default:
				bad("%s: %s rejects %s", short, rec.Subject(), key)
			}
		}
		for key, tag := range cur.stable {
			env, app, _ := strings.Cut(key, "/")
			from := prev.stable[key]
			if tag == from {
				continue
			}
			switch r := rec.(type) {
			case *ledger.Promotion:
				// 3: a version enters only with an allow decision recorded.
				if r.App != app || r.Env != env || r.Version.Tag != tag {
					bad("%s: %s moved %s %s in %s", short, r.Subject(), app, tag, env)
				}
				if !strings.Contains(c.Message, "\nFerry-Decision: allow\n") {
					bad("%s: %s has no allow decision", short, r.Subject())
				}
				// 2: no rejected version enters any environment again.
				if prev.rejected[app+"/"+tag] {
					bad("%s: %s promotes rejected %s", short, r.Subject(), tag)
				}
				// 4: never out of order (a mirror follows its target).
				if env != "dr" && from != "" && newer(from, tag) {
					bad("%s: %s downgrades %s from %s", short, r.Subject(), env, from)
				}
			case *ledger.Rollback:
				// 1: it rolls back that version and no other.
				if r.App != app || (env != r.Env && !slices.Contains(r.Mirrors, env)) || from != r.From.Tag || tag != r.To.Tag {
					bad("%s: %s moved %s in %s from %s to %s", short, r.Subject(), app, env, from, tag)
				}
			default:
				bad("%s: %s moved %s in %s from %s to %s", short, rec.Subject(), app, env, from, tag)
			}
		}
		for key, tag := range cur.canary {
			env, app, _ := strings.Cut(key, "/")
			from := prev.canary[key]
			if tag == from {
				continue
			}
			switch r := rec.(type) {
			case *ledger.CanaryStep:
				if r.Step != 0 || r.App != app || r.Env != env || r.Version.Tag != tag || r.Gate == nil {
					bad("%s: %s moved %s's canary to %s", short, r.Subject(), app, tag)
				} else if prev.rejected[app+"/"+tag] {
					bad("%s: %s deploys rejected %s", short, r.Subject(), tag)
				}
			case *ledger.Abort:
				if r.App != app || tag != cur.stable[key] {
					bad("%s: %s moved %s's canary to %s, not to stable %s", short, r.Subject(), app, tag, cur.stable[key])
				}
			case *ledger.Rollback:
				if r.App != app || tag != r.To.Tag {
					bad("%s: %s moved %s's canary to %s", short, r.Subject(), app, tag)
				}
			case *ledger.Promotion:
				// step 0 of a delivery is a canary step; a promotion moves the stable entry only
				bad("%s: %s moved %s's canary", short, r.Subject(), app)
			default:
				bad("%s: %s moved %s's canary to %s", short, rec.Subject(), app, tag)
			}
		}
		// 4: a promotion that changed nothing is a duplicate.
		if p, ok := rec.(*ledger.Promotion); ok && prev.stable[p.Env+"/"+p.App] == p.Version.Tag {
			bad("%s: %s changes nothing (duplicate)", short, p.Subject())
		}
		advance()
	}
	// After quiescence: mirrors equal their target, no delivery is left
	// half-way, and a fresh agent (a restart) finds nothing left to do.
	for _, app := range simApps {
		prod, dr := prev.stable["prod/"+app], prev.stable["dr/"+app]
		if prod != dr && !prev.rejected[app+"/"+prod] {
			bad("after quiescence dr runs %s %s, prod %s", app, dr, prod)
		}
		if c := prev.canary["prod/"+app]; c != prev.stable["prod/"+app] && c != "0.0.0" {
			bad("after quiescence %s's canary runs %s, stable %s: the delivery neither promoted nor aborted", app, c, prev.stable["prod/"+app])
		}
	}
	w.start(t)
	plan, err := w.agent.Plan(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range plan.Steps {
		if s.Action == ActionPromote || (s.Action == ActionError && !strings.HasPrefix(s.Reason, "no tag of")) {
			bad("after quiescence a restarted agent would still %s %s %s in %s: %s", s.Action, s.App, s.Candidate, s.Env, s.Reason)
		}
	}
}
