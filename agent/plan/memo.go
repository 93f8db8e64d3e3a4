package plan

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"path"
	"sync"
	"sync/atomic"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
)

// upToDate is the reason of a step whose environment already runs its
// candidate.
const upToDate = "up to date"

// memo makes a long-running agent's pass incremental: a step found up to
// date is not decided again while nothing it was decided on changed. That
// is the app's version in the environment and in its source (for a first
// environment, the registry's answer: tag and digest, so a tag pushed
// again with another digest is a change), and the fleet repo's inputs
// every step reads: ferry.yaml, the policies, the freezes, rejections and
// approvals files. Only "up to date" is remembered: it does not depend on
// the time (soak, freeze windows), on the gate, or on verdict notes, which
// are read for moves only. One entry per app and environment of the
// pipeline, replaced or dropped at each decision: it never grows past
// the fleet.
type memo struct {
	mu    sync.Mutex
	fleet fleetInputs
	steps map[[2]string]memoStep
	// decided counts the steps Decide worked out (misses), for tests.
	decided atomic.Int64
}

// fleetInputs is the digest of the repo-wide inputs at one commit.
type fleetInputs struct {
	snap string
	sum  [sha256.Size]byte
}

type memoKey struct {
	fleet              [sha256.Size]byte
	current, candidate ledger.Version
}

type memoStep struct {
	key  memoKey
	step Step
}

// fleetSum digests what every step reads at st's commit, once per commit.
func (p *Planner) fleetSum(st *state.State) [sha256.Size]byte {
	p.memo.mu.Lock()
	defer p.memo.mu.Unlock()
	if p.memo.fleet.snap == st.Snap.Hash() {
		return p.memo.fleet.sum
	}
	h := sha256.New()
	policies := path.Clean(p.cfg.Policies) // "policies/" as ferry.yaml writes it
	if p.cfg.Policies == "" {
		policies = "policies"
	}
	for _, f := range []string{"ferry.yaml", policies, gitstate.FreezesFile, gitstate.RejectionsFile, gitstate.ApprovalsFile} {
		id, err := st.Snap.ObjectID(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			id = "absent"
		case err != nil:
			// Unknown is a change: the commit itself is the key.
			id = "unreadable at " + st.Snap.Hash()
		}
		h.Write([]byte(f + "\x00" + id + "\x00"))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	p.memo.fleet = fleetInputs{snap: st.Snap.Hash(), sum: sum}
	return sum
}

// memoKey is the key of app's step in env, and whether the step may be
// remembered at all: not for a dry run's assumed versions, an unreadable
// overlay or gate file, or a registry that has not answered.
func (p *Planner) memoKey(st *state.State, cands Candidates, app *config.App, env *config.Environment) (memoKey, bool) {
	if st.Snap == nil || st.Err != nil || st.Assuming() {
		return memoKey{}, false
	}
	e := st.Envs[env.Name]
	if e == nil || e.Err != nil {
		return memoKey{}, false
	}
	k := memoKey{current: e.Version(app)}
	if src := SourceOf(env); src != "" {
		s := st.Envs[src]
		if s == nil || s.Err != nil {
			return memoKey{}, false
		}
		k.candidate = s.Version(app)
	} else {
		c, ok := cands[app.Name]
		if !ok || c.Pending || c.Err != nil {
			return memoKey{}, false
		}
		k.candidate = c.Version
	}
	if k.candidate.IsZero() {
		return memoKey{}, false
	}
	k.fleet = p.fleetSum(st)
	return k, true
}

// recall is the remembered step for key.
func (p *Planner) recall(app *config.App, env *config.Environment, key memoKey) (Step, bool) {
	p.memo.mu.Lock()
	defer p.memo.mu.Unlock()
	m, ok := p.memo.steps[[2]string{app.Name, env.Name}]
	if !ok || m.key != key {
		return Step{}, false
	}
	return m.step, true
}

// remember keeps step under key when it is up to date, and forgets app's
// step in env otherwise.
func (p *Planner) remember(app *config.App, env *config.Environment, key memoKey, keep bool, step Step) {
	id := [2]string{app.Name, env.Name}
	p.memo.mu.Lock()
	defer p.memo.mu.Unlock()
	if !keep || step.Action != ActionNone || step.Reason != upToDate || step.Decision != nil {
		delete(p.memo.steps, id)
		return
	}
	if p.memo.steps == nil {
		p.memo.steps = map[[2]string]memoStep{}
	}
	p.memo.steps[id] = memoStep{key: key, step: step}
}
