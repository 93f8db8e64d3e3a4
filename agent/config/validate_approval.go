package config

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/text"
)

// MaxApproverName bounds a person's or group's name, as the approvals
// record (agent/gitstate) does.
const MaxApproverName = 256

// ApproverNameProblem says what is wrong with a login, team or group name
// for the approvals record ("" when nothing): no spaces, control
// characters, ',' or parentheses, which would break the trailers naming
// it. agent/gitstate refuses such a name in .ferry/approvals.yaml by the
// same rule, so an approval.from entry config accepts can be matched.
func ApproverNameProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case utf8.RuneCountInString(s) > MaxApproverName:
		return fmt.Sprintf("is too long (at most %d characters)", MaxApproverName)
	case strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || text.Hidden(r) || r == ',' || r == '(' || r == ')'
	}) >= 0:
		return "must not contain spaces, control or invisible characters, ',' or parentheses"
	}
	return ""
}

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
			if msg := ApproverNameProblem(name); ok && msg != "" {
				ps.add(at, "%s: the name %s (the approvals record and its trailers could never hold it, so no vote would match)", quote(f), msg)
			}
			if ok && kind == ApproverTeam && strings.Count(name, "/") > 1 {
				ps.add(at, "%s must be team:NAME or team:ORG/NAME", quote(f))
			}
		}
	}
}
