package config

import (
	"strings"
)

// validateApprovals checks each environment's approval: block. A mirror
// follows its source exactly and has no gate of its own to hold a vote.
func (p *Pipeline) validateApprovals(ps *problems) {
	for i, e := range p.Environments {
		a := e.Approval
		if a == nil {
			continue
		}
		base := joinPath(indexPath("environments", i), "approval")
		if e.Mirror != "" {
			ps.add(base, "not allowed on a mirror environment (it follows %s exactly); set approval: on %s", quote(e.Mirror), quote(e.Mirror))
			continue
		}
		if a.Required < 1 {
			ps.add(joinPath(base, "required"), "must be at least 1 (how many approvals a version needs)")
		}
		if a.Expires < 0 {
			ps.add(joinPath(base, "expires"), "must not be negative")
		}
		seen := map[string]bool{}
		for j, f := range a.From {
			at := indexPath(joinPath(base, "from"), j)
			kind, name, ok := ParseApprover(f)
			switch {
			case ok && seen[f]:
				ps.add(at, "%s is listed twice", quote(f))
			case ok:
				seen[f] = true
			case kind == ApproverUser || kind == ApproverTeam || kind == ApproverGroup:
				ps.add(at, "%s needs a name after %s: (no spaces around it)", quote(f), kind)
			default:
				ps.add(at, "%s must be user:LOGIN, team:NAME or group:NAME", quote(f))
			}
			if ok && kind == ApproverTeam && strings.Count(name, "/") > 1 {
				ps.add(at, "%s must be team:NAME or team:ORG/NAME", quote(f))
			}
		}
	}
}
