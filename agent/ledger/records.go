// Package ledger is the fleet repo's record format: the subjects and
// trailers of the commits ferry writes (promotions, canary steps, aborts,
// rollbacks, freezes, rejections) and the verdict notes on them. It is the
// only code that knows a subject, a trailer key or the notes ref; everyone
// else builds a typed record and calls Message, or reads one with Parse.
// git log is the audit trail, so the format is a contract (docs/design.md
// "Commits"): fields may be added, existing ones keep their shape.
package ledger

import (
	"fmt"
	"strings"
)

// Trailer keys of docs/design.md's commit contract.
const (
	keyApp          = "Ferry-App"
	keyEnv          = "Ferry-Env"
	keyFrom         = "Ferry-From"
	keyVersion      = "Ferry-Version"
	keyDigest       = "Ferry-Digest"
	keyDecision     = "Ferry-Decision"
	keyAwaiting     = "Ferry-Awaiting" // a pull request's proposal the gate holds for approvals
	keyPolicy       = "Ferry-Policy"
	keyEvidence     = "Ferry-Evidence"
	keyCreated      = "Ferry-Created" // the image's creation time: DORA's lead time starts there
	keyReason       = "Ferry-Reason"
	keyRejects      = "Ferry-Rejects"
	keyMirrors      = "Ferry-Mirrors"
	keyAlert        = "Ferry-Alert"         // fingerprint of the alert a rollback answered
	keyAlertStarted = "Ferry-Alert-Started" // when that alert's firing episode began
	keyCanary       = "Ferry-Canary"
	keyStep         = "Ferry-Step"
	keyWeight       = "Ferry-Weight"
	keyAnalysis     = "Ferry-Analysis"
	keyVerdict      = "Ferry-Verdict"
	keySignedBy     = "Ferry-Signed-By" // a verified signature of the image: kind, signer, key or issuer
)

// Subject prefixes ferry writes; a person's commit may use none of them.
const (
	prefixPromote  = "promote "
	prefixCanary   = "canary "
	prefixAbort    = "abort canary of "
	prefixRollback = "rollback "
	prefixUnfreeze = "unfreeze "
	prefixFreeze   = "freeze "
	prefixUnreject = "unreject "
	prefixRevert   = "Revert " // git revert's subject
	allow          = "allow"
	completed      = " completed" // Ferry-Canary value of a delivery's last promotion: "<strategy> completed"
)

// Record is one commit of the fleet repo as the ledger reads it: one of
// *Promotion, *CanaryStep, *Abort, *Rollback, *Unfreeze, *Freeze,
// *Unreject, *Approval, or *Change for anything else (a person's commit).
type Record interface {
	// Message renders the record as the commit message ferry writes.
	Message() Message
	// Subject is the message's one-line subject.
	Subject() string
}

// Gate is what the policy decision of a move recorded: where the version
// came from, the bundle that allowed it and the evidence it saw.
type Gate struct {
	From     string   // source environment, or "registry"
	Created  string   // the image's creation time, RFC 3339; "" when unknown
	Policy   string   // the policy bundle's hash, or "none"
	Evidence []string // one line per fact
	Warnings []string
	// SignedBy are the image's verified signatures, one line each
	// (trust.Signature.String); empty when the app is not verified.
	SignedBy []string
	// ApprovedBy are the approvals that counted for the move, one line
	// each: "bob (review, team:product-owners)"; empty without approval:.
	ApprovedBy []string
	// Awaiting is set on the commit of a pull request's proposal the gate
	// holds for approvals ("approval 0 of 1"): the move is not allowed
	// yet, whatever Ferry-Decision says of the rest of the policies. A
	// person who lands that commit promotes without the approvals.
	Awaiting string
}

// Promotion moves Version into Env: a direct commit, the commit of a merged
// pull request, or the last commit of a progressive delivery (Completed).
type Promotion struct {
	App, Env string
	Version  Version
	Gate     Gate
	// Completed is the strategy of the progressive delivery this promotion
	// ends ("canary", "blueGreen", ...); "" for a plain promotion.
	Completed string
	// RequestedBy is the person who asked for it (`ferry promote`, the
	// dashboard); zero when ferry's pass made it.
	RequestedBy Actor
	// Reason is that person's reason (Ferry-Reason); "" for ferry's moves.
	Reason string
}

// Subject implements Record.
func (p *Promotion) Subject() string {
	return fmt.Sprintf("promote %s %s to %s", p.App, p.Version.Tag, p.Env)
}

// Message implements Record.
func (p *Promotion) Message() Message {
	m := Message{Subject: p.Subject()}
	m.Trailers = append(m.Trailers, p.Gate.trailers(p.App, p.Env, p.Version)...)
	if len(p.Gate.Warnings) > 0 {
		m.Body = "Warnings:\n- " + strings.Join(p.Gate.Warnings, "\n- ")
	}
	if p.Completed != "" {
		m.Trailers = append(m.Trailers, Trailer{keyCanary, p.Completed + completed})
	}
	m.Trailers = append(m.Trailers, p.RequestedBy.trailers()...)
	if p.Reason != "" {
		m.Trailers = append(m.Trailers, Trailer{keyReason, OneLine(p.Reason)})
	}
	return m
}

func (g Gate) trailers(app, env string, v Version) []Trailer {
	ts := []Trailer{
		{keyApp, app}, {keyEnv, env}, {keyFrom, g.From},
		{keyVersion, v.Tag}, {keyDigest, v.Digest}, {keyDecision, allow},
	}
	if g.Awaiting != "" {
		ts = append(ts, Trailer{keyAwaiting, OneLine(g.Awaiting)})
	}
	if g.Created != "" {
		ts = append(ts, Trailer{keyCreated, g.Created})
	}
	if g.Policy != "" {
		ts = append(ts, Trailer{keyPolicy, g.Policy})
	}
	for _, s := range g.SignedBy {
		ts = append(ts, Trailer{keySignedBy, OneLine(s)})
	}
	for _, a := range g.ApprovedBy {
		ts = append(ts, Trailer{keyApprovedBy, OneLine(a)})
	}
	for _, e := range g.Evidence {
		ts = append(ts, Trailer{keyEvidence, OneLine(e)})
	}
	return ts
}

func gateOf(m Message) Gate {
	return Gate{From: m.Trailer(keyFrom), Created: m.Trailer(keyCreated), Policy: m.Trailer(keyPolicy),
		Evidence: m.TrailerValues(keyEvidence), Warnings: warningsOf(m.Body), SignedBy: m.TrailerValues(keySignedBy),
		ApprovedBy: m.TrailerValues(keyApprovedBy), Awaiting: m.Trailer(keyAwaiting)}
}

func warningsOf(body string) []string {
	rest, ok := strings.CutPrefix(body, "Warnings:\n- ")
	if !ok {
		return nil
	}
	return strings.Split(rest, "\n- ")
}

// Change is a commit the ledger does not recognise as ferry's: a person's.
type Change struct{ Msg Message }

// Subject implements Record.
func (c *Change) Subject() string { return c.Msg.Subject }

// Message implements Record.
func (c *Change) Message() Message { return c.Msg }

// IsRollback reports a person's change whose subject says it rolls back
// ("rollback ..."): DORA counts it as a failure of what it replaced.
func (c *Change) IsRollback() bool { return strings.HasPrefix(c.Msg.Subject, prefixRollback) }

// IsRevert reports git's "Revert ..." commit.
func (c *Change) IsRevert() bool { return strings.HasPrefix(c.Msg.Subject, prefixRevert) }

// Parse reads a commit message as a record. Messages that carry ferry's
// subject but not its trailers (a person imitating one) are a Change,
// except the abort subject, whose words name app, version and env.
func Parse(text string) Record {
	m := ParseMessage(text)
	app, env := m.Trailer(keyApp), m.Trailer(keyEnv)
	version := Version{Tag: m.Trailer(keyVersion), Digest: m.Trailer(keyDigest)}
	switch {
	case strings.HasPrefix(m.Subject, prefixPromote) && app != "" && env != "" && !version.IsZero():
		p := &Promotion{App: app, Env: env, Version: version, Gate: gateOf(m)}
		p.Completed, _ = strings.CutSuffix(m.Trailer(keyCanary), completed)
		p.RequestedBy = requestedBy(m)
		p.Reason = m.Trailer(keyReason)
		return p
	case strings.HasPrefix(m.Subject, prefixCanary) && app != "" && m.Trailer(keyCanary) != "" && m.Trailer(keyStep) != "":
		return canaryStepOf(m, app, env)
	case strings.HasPrefix(m.Subject, prefixAbort):
		if a, ok := abortOf(m, app, env); ok {
			return a
		}
	case strings.HasPrefix(m.Subject, prefixRollback) && app != "" && env != "":
		r := &Rollback{App: app, Env: env, To: version, Reason: m.Trailer(keyReason), Alert: alertOf(m), RequestedBy: requestedBy(m)}
		r.From.Tag = m.Trailer(keyRejects)
		for _, mirror := range strings.Split(m.Trailer(keyMirrors), ",") {
			if mirror = strings.TrimSpace(mirror); mirror != "" {
				r.Mirrors = append(r.Mirrors, mirror)
			}
		}
		return r
	case strings.HasPrefix(m.Subject, prefixApprove) || strings.HasPrefix(m.Subject, prefixReject):
		if a, ok := approvalOf(m, app, env); ok {
			return a
		}
	case strings.HasPrefix(m.Subject, prefixUnfreeze):
		rest := strings.TrimPrefix(m.Subject, prefixUnfreeze)
		if e, alertPart, ok := strings.Cut(rest, ": alert "); ok && env != "" && e != "" {
			if name, ok := strings.CutSuffix(alertPart, " resolved"); ok && name != "" {
				return &Unfreeze{Env: e, Alert: name, Reason: m.Trailer(keyReason)}
			}
		}
		return &Unfreeze{Name: rest}
	case strings.HasPrefix(m.Subject, prefixFreeze):
		name, reason, _ := strings.Cut(strings.TrimPrefix(m.Subject, prefixFreeze), ": ")
		return &Freeze{Name: name, Reason: reason}
	case strings.HasPrefix(m.Subject, prefixUnreject) && app != "":
		return &Unreject{App: app, Version: m.Trailer(keyVersion)}
	}
	return &Change{Msg: m}
}

// OneLine folds s onto one line, as trailer values must be.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// AppEnv says which app and environment a record is about ("" when none):
// a read model's filter.
func AppEnv(r Record) (app, env string) {
	switch r := r.(type) {
	case *Promotion:
		return r.App, r.Env
	case *CanaryStep:
		return r.App, r.Env
	case *Abort:
		return r.App, r.Env
	case *Rollback:
		return r.App, r.Env
	case *Unfreeze:
		return "", r.Env
	case *Unreject:
		return r.App, ""
	case *Approval:
		return r.App, r.Env
	case *Change:
		return r.Msg.Trailer(keyApp), r.Msg.Trailer(keyEnv)
	}
	return "", ""
}
