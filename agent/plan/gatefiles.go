package plan

import (
	"context"
	"fmt"
	"sync"

	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/state"
)

// gateFiles are the fleet repo's files that hold promotions back: a person
// lifting a freeze or a rejection relaxes a gate as a policy change does.
var gateFiles = []string{gitstate.FreezesFile, gitstate.RejectionsFile}

// gateFilesCheck remembers the answer for the snapshot checked last: every
// step of a pass asks about the same one.
type gateFilesCheck struct {
	mu     sync.Mutex
	snap   string
	reason string
}

// unsignedGateFiles says, under git.verifyCommits require, why no step may
// move: the commit that last changed the freezes or the rejections is not
// verified. ferry cannot tell a lifted freeze from an added one without
// trusting the commit, so nothing moves until a verified commit changes
// the file again (ferry's freeze, unfreeze and unreject commits are signed).
func (p *Planner) unsignedGateFiles(ctx context.Context, st *state.State) (string, error) {
	if p.Signatures.Mode() != state.VerifyRequire {
		return "", nil
	}
	p.gateFiles.mu.Lock()
	defer p.gateFiles.mu.Unlock()
	if p.gateFiles.snap == st.Snap.Hash() {
		return p.gateFiles.reason, nil
	}
	reason := ""
	for _, f := range gateFiles {
		sb, found, err := p.Signatures.CheckPath(ctx, st.Snap, f)
		if err != nil {
			return "", err
		}
		if found && !sb.Verified {
			reason = fmt.Sprintf("%s was last changed by an unverified commit (%s): under git.verifyCommits require, no promotion until a verified commit changes it", f, sb.Describe())
			break
		}
	}
	p.gateFiles.snap, p.gateFiles.reason = st.Snap.Hash(), reason
	return reason, nil
}
