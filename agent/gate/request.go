package gate

import "github.com/ferry-dev/ferry/agent/ledger"

// Action is a person's request behind a move (ferry promote, rollback,
// abort, the dashboard's buttons); nil in a Request is ferry's own pass.
type Action struct {
	Kind   string // ActionManual
	By     ledger.Actor
	Reason string
}

// ActionManual is the kind of a move a person asked for.
const ActionManual = "manual"

// Kinds of input.request.
const (
	requestPass   = "pass"
	requestManual = ActionManual
)

// requestInput is input.request: ferry's own pass, or a person's request.
func requestInput(a *Action) map[string]any {
	if a == nil {
		return map[string]any{"kind": requestPass}
	}
	kind := a.Kind
	if kind == "" {
		kind = requestManual
	}
	return map[string]any{"kind": kind, "by": a.By.Name, "via": a.By.Via, "reason": a.Reason}
}
