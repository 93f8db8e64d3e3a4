package dora

import (
	"slices"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// tracked is a Change with what the metrics need and JSON does not show.
type tracked struct {
	Change
	opensIncident bool // the first rollback since the last good deployment
}

// appResult is one app's changes in the measured environment, oldest first.
type appResult struct{ changes []tracked }

// origin is where a version's lead time starts.
type origin struct{ created, firstSeen time.Time }

// appState is one app's walk through the target environment.
type appState struct {
	out        []tracked
	lastDeploy map[string]int // version -> index of its newest deployment
	ran        map[string]bool
	cur        version
}

func (st *appState) fail(v, by string) {
	if i, ok := st.lastDeploy[v]; ok && st.out[i].FailedBy == "" {
		st.out[i].FailedBy = by
	}
}

// analyze walks the target environment's history once, oldest first,
// classifying each change of each app's stable version. Oldest first: whether
// a revert restores an earlier version depends on what ran before it.
func analyze(h *history, apps []config.App, env string) map[string]appResult {
	orgs := origins(h)
	states := make(map[string]*appState, len(apps))
	for _, a := range apps {
		states[a.Name] = &appState{lastDeploy: map[string]int{}, ran: map[string]bool{}}
	}
	for _, oc := range h.targetCommits() {
		// An unreadable overlay says nothing about versions: the next
		// readable commit carries on from the last known one.
		if !oc.readable {
			continue
		}
		// An aborted canary never became the stable version: a failed
		// change, not a deployment.
		if app, v, ok := abortOf(oc.rec, env); ok {
			if st := states[app]; st != nil {
				st.out = append(st.out, tracked{Change: newChange(KindCanaryAbort, oc, v, st.cur.String())})
			}
			continue
		}
		// The rollback names what it undid: that deployment failed, whoever
		// made it.
		if r, ok := oc.rec.(*ledger.Rollback); ok {
			if st := states[r.App]; st != nil && r.From.Tag != "" {
				st.fail(r.From.Tag, oc.commit.Hash)
			}
		}
		// Sorted: a commit moving several apps gives the same report each run.
		for _, app := range sortedKeys(oc.changes) {
			if st := states[app]; st != nil {
				st.change(oc, app, oc.changes[app], orgs[app])
			}
		}
	}
	out := make(map[string]appResult, len(states))
	for app, st := range states {
		closeIncidents(st.out)
		out[app] = appResult{changes: st.out}
	}
	return out
}

// change records a commit that moved app's stable version to v.
func (st *appState) change(oc overlayCommit, app string, v version, orgs map[string]origin) {
	from := st.cur
	st.cur = v
	if v.isZero() {
		return
	}
	defer func() { st.ran[v.String()] = true }()
	if from.isZero() {
		// The app's first version in the env (the repo's first commit, a
		// new env or app) is the baseline, not a change.
		return
	}
	if isRollback(oc.rec, app, st.ran[v.String()]) {
		st.fail(from.String(), oc.commit.Hash)
		st.out = append(st.out, tracked{Change: newChange(KindRollback, oc, v.String(), from.String())})
		return
	}
	d := newChange(KindDeployment, oc, v.String(), from.String())
	o := orgs[v.String()]
	// An image created after its deployment means skewed clocks: fall back
	// to the version's first appearance.
	switch {
	case !o.created.IsZero() && !o.created.After(d.Time):
		d.LeadTimeSeconds, d.LeadTimeFrom = seconds(d.Time.Sub(o.created)), OriginCreated
	case !o.firstSeen.IsZero():
		d.LeadTimeSeconds, d.LeadTimeFrom = seconds(max(0, d.Time.Sub(o.firstSeen))), OriginFirstSeen
	}
	st.lastDeploy[v.String()] = len(st.out)
	st.out = append(st.out, tracked{Change: d})
}

func sortedKeys(m map[string]version) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isRollback recognises a commit that restores an earlier version: ferry's
// rollback of app (or a person's "rollback ..."), or a git revert back to a
// version the env ran before. A revert to a version never run here is a new
// deployment, not a restore.
func isRollback(r ledger.Record, app string, ranBefore bool) bool {
	switch r := r.(type) {
	case *ledger.Rollback:
		return r.App == app
	case *ledger.Change:
		return r.IsRollback() || (r.IsRevert() && ranBefore)
	}
	return false
}

// closeIncidents pairs each incident's first rollback with the next
// deployment that was not rolled back: the time to restore. Later rollbacks
// in the same incident do not restart its clock.
func closeIncidents(cs []tracked) {
	open := -1
	for i := range cs {
		switch cs[i].Kind {
		case KindRollback:
			if open < 0 {
				open = i
				cs[i].opensIncident = true
			}
		case KindDeployment:
			if open >= 0 && cs[i].FailedBy == "" {
				cs[open].RestoredBy = cs[i].Commit
				cs[open].RestoreSeconds = seconds(max(0, cs[i].Time.Sub(cs[open].Time)))
				open = -1
			}
		}
	}
}

// origins finds, per app and version, the image creation time recorded in
// any promotion's Ferry-Created trailer and the first time any environment
// ran it.
func origins(h *history) map[string]map[string]origin {
	out := map[string]map[string]origin{}
	get := func(app, v string) origin {
		if out[app] == nil {
			out[app] = map[string]origin{}
		}
		return out[app][v]
	}
	for _, env := range h.order {
		for _, oc := range h.envs[env] {
			if app, v, created := createdOf(oc.rec); app != "" {
				if t, err := time.Parse(time.RFC3339, created); err == nil && t.Year() >= 2000 {
					// Reproducible builds stamp 1970 (or nothing, year 1): no origin.
					if o := get(app, v); v != "" && o.created.IsZero() {
						o.created = t
						out[app][v] = o
					}
				}
			}
			for app, v := range oc.changes {
				if v.isZero() {
					continue
				}
				o := get(app, v.String())
				if o.firstSeen.IsZero() || oc.commit.Time.Before(o.firstSeen) {
					o.firstSeen = oc.commit.Time
					out[app][v.String()] = o
				}
			}
		}
	}
	return out
}

// createdOf is the image creation time a promotion recorded.
func createdOf(r ledger.Record) (app, version, created string) {
	switch r := r.(type) {
	case *ledger.Promotion:
		return r.App, r.Version.Tag, r.Gate.Created
	case *ledger.CanaryStep:
		if r.Gate != nil {
			return r.App, r.Version.Tag, r.Gate.Created
		}
	}
	return "", "", ""
}

func newChange(kind string, oc overlayCommit, v, from string) Change {
	c := oc.commit
	return Change{
		Kind: kind, Commit: c.Hash, Time: c.Time.UTC(), Author: c.Author.Name, Subject: ledger.ParseMessage(c.Message).Subject,
		Version: v, From: from, ByFerry: byFerry(oc.rec) != "",
	}
}

func seconds(d time.Duration) *float64 {
	s := d.Seconds()
	return &s
}

// window keeps the changes made in [from, to].
func (r appResult) window(from, to time.Time) appResult {
	var out []tracked
	for _, c := range r.changes {
		if !c.Time.Before(from) && !c.Time.After(to) {
			out = append(out, c)
		}
	}
	return appResult{changes: out}
}

func merge(rs []appResult) appResult {
	var out appResult
	for _, r := range rs {
		out.changes = append(out.changes, r.changes...)
	}
	return out
}

// metrics computes the four metrics over the changes, in a window of days.
func (r appResult) metrics(days float64) Metrics {
	var m Metrics
	var leads, restores []float64
	for _, c := range r.changes {
		switch c.Kind {
		case KindDeployment:
			m.Deployments++
			if c.FailedBy != "" {
				m.RolledBack++
			}
			if c.LeadTimeSeconds != nil {
				leads = append(leads, *c.LeadTimeSeconds)
			}
		case KindCanaryAbort:
			m.AbortedCanaries++
		case KindRollback:
			m.Rollbacks++
			if c.RestoreSeconds != nil {
				restores = append(restores, *c.RestoreSeconds)
			} else if c.opensIncident {
				m.OpenIncidents++
			}
		}
	}
	m.Changes = m.Deployments + m.AbortedCanaries
	m.Failures = m.RolledBack + m.AbortedCanaries
	if m.Changes > 0 {
		m.ChangeFailureRate = float64(m.Failures) / float64(m.Changes)
	}
	if days > 0 {
		m.DeploymentsPerDay = float64(m.Deployments) / days
	}
	m.LeadTime = summarize(leads)
	m.TimeToRestore = summarize(restores)
	return m
}

// list is the changes as the report shows them (never nil: JSON shows []).
func (r appResult) list() []Change {
	out := make([]Change, 0, len(r.changes))
	for _, c := range r.changes {
		out = append(out, c.Change)
	}
	return out
}
