// The records of people's actions: who asked for a move, who approved or
// rejected one, and the approval decision itself.

package ledger

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/ferry-dev/ferry/internal/text"
)

// Trailer keys of people's actions.
const (
	keyRequestedBy = "Ferry-Requested-By" // the person whose action made this commit
	keyApprovedBy  = "Ferry-Approved-By"  // one per approval that counted for the move
	keyApprover    = "Ferry-Approver"     // the person of an approval record
)

// How a person acted (Actor.Via).
const (
	ViaCLI       = "cli"       // a ferry command, identity as the command was told it
	ViaDashboard = "dashboard" // the dashboard, identity from OpenID Connect sign-in
	ViaReview    = "review"    // a review on the promotion's pull request, identity from the forge
)

// Actor is the person behind an action and how ferry knows who they are.
type Actor struct {
	Name string // forge login, OIDC preferred_username, or the CLI's --as
	Via  string // ViaCLI, ViaDashboard or ViaReview
}

// IsZero reports no person: ferry acted on its own.
func (a Actor) IsZero() bool { return a.Name == "" }

// String is the trailer value: "alice (dashboard)".
func (a Actor) String() string {
	if a.Via == "" {
		return OneLine(a.Name)
	}
	return OneLine(a.Name) + " (" + a.Via + ")"
}

// ParseActor reads String's form; a value without "(via)" is a name only.
func ParseActor(s string) Actor {
	s = strings.TrimSpace(s)
	if name, rest, ok := strings.Cut(s, " ("); ok && strings.HasSuffix(rest, ")") {
		return Actor{Name: name, Via: strings.TrimSuffix(rest, ")")}
	}
	return Actor{Name: s}
}

// Approval is a person's decision on moving Version of App into Env: an
// approval, or (Reject) a rejection that blocks it. `ferry approve`,
// `ferry reject` and the dashboard write one, with the change to
// .ferry/approvals.yaml that the gate reads.
type Approval struct {
	App, Env string
	Version  string
	By       Actor
	Reject   bool
	Reason   string
}

// Subject implements Record.
func (a *Approval) Subject() string {
	verb := prefixApprove
	if a.Reject {
		verb = prefixReject
	}
	return fmt.Sprintf("%s%s %s for %s", verb, a.App, a.Version, a.Env)
}

// Message implements Record.
func (a *Approval) Message() Message {
	m := Message{Subject: a.Subject(), Trailers: []Trailer{
		{keyApp, a.App}, {keyEnv, a.Env}, {keyVersion, a.Version}, {keyApprover, a.By.String()},
	}}
	if a.Reason != "" {
		m.Trailers = append(m.Trailers, Trailer{keyReason, OneLine(a.Reason)})
	}
	return m
}

// Subject prefixes of approval records.
const (
	prefixApprove = "approve "
	prefixReject  = "reject "
)

func approvalOf(m Message, app, env string) (*Approval, bool) {
	by := m.Trailer(keyApprover)
	v := m.Trailer(keyVersion)
	if app == "" || env == "" || by == "" || v == "" {
		return nil, false
	}
	return &Approval{App: app, Env: env, Version: v, By: ParseActor(by),
		Reject: strings.HasPrefix(m.Subject, prefixReject), Reason: m.Trailer(keyReason)}, true
}

// CheckReason refuses a person's reason with a control character (a
// newline, a tab, an escape) or an invisible one (a zero-width space, a
// bidi override, U+2028): it goes into a one-line trailer and log lines
// as given, so it must be one line of plain text that reads as written.
func CheckReason(reason string) error {
	for i, r := range reason {
		if text.Hidden(r) {
			kind := "an invisible"
			if unicode.IsControl(r) {
				kind = "a control"
			}
			return fmt.Errorf("the reason has %s character (%U at byte %d): give it as one line of plain text", kind, r, i)
		}
	}
	return nil
}

func requestedBy(m Message) Actor {
	if v := m.Trailer(keyRequestedBy); v != "" {
		return ParseActor(v)
	}
	return Actor{}
}

func (a Actor) trailers() []Trailer {
	if a.IsZero() {
		return nil
	}
	return []Trailer{{keyRequestedBy, a.String()}}
}
