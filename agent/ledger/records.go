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
	"strconv"
	"strings"
	"time"
)

// Trailer keys of docs/design.md's commit contract.
const (
	keyApp          = "Ferry-App"
	keyEnv          = "Ferry-Env"
	keyFrom         = "Ferry-From"
	keyVersion      = "Ferry-Version"
	keyDigest       = "Ferry-Digest"
	keyDecision     = "Ferry-Decision"
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
// *Unreject, or *Change for anything else (a person's commit).
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
	return m
}

func (g Gate) trailers(app, env string, v Version) []Trailer {
	ts := []Trailer{
		{keyApp, app}, {keyEnv, env}, {keyFrom, g.From},
		{keyVersion, v.Tag}, {keyDigest, v.Digest}, {keyDecision, allow},
	}
	if g.Created != "" {
		ts = append(ts, Trailer{keyCreated, g.Created})
	}
	if g.Policy != "" {
		ts = append(ts, Trailer{keyPolicy, g.Policy})
	}
	for _, e := range g.Evidence {
		ts = append(ts, Trailer{keyEvidence, OneLine(e)})
	}
	return ts
}

func gateOf(m Message) Gate {
	return Gate{From: m.Trailer(keyFrom), Created: m.Trailer(keyCreated), Policy: m.Trailer(keyPolicy),
		Evidence: m.TrailerValues(keyEvidence), Warnings: warningsOf(m.Body)}
}

func warningsOf(body string) []string {
	rest, ok := strings.CutPrefix(body, "Warnings:\n- ")
	if !ok {
		return nil
	}
	return strings.Split(rest, "\n- ")
}

// CanaryStep is one step of a progressive delivery: step 0 deploys the
// canary (and carries the gate decision, Gate non-nil), each later step
// moves traffic; its analysis verdict becomes a note on the commit.
type CanaryStep struct {
	App, Env string
	Version  Version // the canary's
	Step, Of int     // Step of Of
	Weight   int     // percent of traffic on the canary after this step
	Label    string  // "send 25% of traffic to the canary"
	// Gate is the decision that let the version in: set on step 0 only.
	Gate *Gate
	// Passed names the step whose analysis let this one happen ("1/4").
	Passed string
}

// StepLabel is "i/n".
func StepLabel(i, n int) string { return strconv.Itoa(i) + "/" + strconv.Itoa(n) }

// Subject implements Record.
func (c *CanaryStep) Subject() string {
	return fmt.Sprintf("canary %s %s in %s: step %s, %s", c.App, c.Version.Tag, c.Env, StepLabel(c.Step, c.Of), c.Label)
}

// Message implements Record.
func (c *CanaryStep) Message() Message {
	m := Message{Subject: c.Subject()}
	if c.Gate != nil {
		m.Trailers = c.Gate.trailers(c.App, c.Env, c.Version)
		if len(c.Gate.Warnings) > 0 {
			m.Body = "Warnings:\n- " + strings.Join(c.Gate.Warnings, "\n- ")
		}
		m.Trailers = append(m.Trailers, Trailer{keyCanary, c.Version.Tag}, Trailer{keyStep, StepLabel(c.Step, c.Of)},
			Trailer{keyWeight, strconv.Itoa(c.Weight)})
		return m
	}
	m.Trailers = []Trailer{
		{keyApp, c.App}, {keyEnv, c.Env}, {keyCanary, c.Version.Tag}, {keyDigest, c.Version.Digest},
		{keyStep, StepLabel(c.Step, c.Of)}, {keyWeight, strconv.Itoa(c.Weight)},
	}
	if c.Passed != "" {
		m.Trailers = append(m.Trailers, Trailer{keyReason, "step " + c.Passed + " passed"})
	}
	return m
}

// Abort ends a progressive delivery: traffic back to Stable, the canary
// entry back on Stable, and (Rejects) the canary's version rejected.
type Abort struct {
	App, Env string
	Canary   Version
	Stable   Version
	Step     string // the step that was in place, "2/4"
	Reason   string
	Rejects  bool
	Alert    AlertRef // set when an alert caused it
}

// AlertRef names the firing episode of an alert: its fingerprint and when
// it started firing. A rollback answers one episode once.
type AlertRef struct {
	Fingerprint string
	Started     time.Time
}

func (a AlertRef) trailers() []Trailer {
	if a.Fingerprint == "" {
		return nil
	}
	ts := []Trailer{{keyAlert, a.Fingerprint}}
	if !a.Started.IsZero() {
		ts = append(ts, Trailer{keyAlertStarted, a.Started.UTC().Format(time.RFC3339)})
	}
	return ts
}

func alertOf(m Message) AlertRef {
	a := AlertRef{Fingerprint: m.Trailer(keyAlert)}
	if t, err := time.Parse(time.RFC3339, m.Trailer(keyAlertStarted)); err == nil {
		a.Started = t
	}
	return a
}

// Answers reports whether a record of alert a answers an alert b: the same
// fingerprint, and the same firing episode when both know when it began.
func (a AlertRef) Answers(b AlertRef) bool {
	if a.Fingerprint == "" || a.Fingerprint != b.Fingerprint {
		return false
	}
	return a.Started.IsZero() || b.Started.IsZero() || a.Started.Equal(b.Started)
}

// Subject implements Record.
func (a *Abort) Subject() string {
	return fmt.Sprintf("abort canary of %s %s in %s", a.App, a.Canary.Tag, a.Env)
}

// Message implements Record.
func (a *Abort) Message() Message {
	m := Message{
		Subject: a.Subject(),
		Body:    fmt.Sprintf("All traffic goes back to %s %s.", a.App, a.Stable.Tag),
		Trailers: []Trailer{
			{keyApp, a.App}, {keyEnv, a.Env}, {keyCanary, a.Canary.Tag}, {keyStep, a.Step},
			{keyWeight, "0"}, {keyReason, OneLine(a.Reason)},
		},
	}
	if a.Rejects {
		m.Trailers = append(m.Trailers, Trailer{keyRejects, a.Canary.Tag})
	}
	m.Trailers = append(m.Trailers, a.Alert.trailers()...)
	return m
}

// Rollback moves Env (and Mirrors) back from From to To and rejects From.
type Rollback struct {
	App, Env string
	To       Version
	From     Version // the rejected version
	Reason   string
	Mirrors  []string
	Alert    AlertRef
}

// Subject implements Record.
func (r *Rollback) Subject() string {
	return fmt.Sprintf("rollback %s in %s to %s", r.App, r.Env, r.To.Tag)
}

// Message implements Record.
func (r *Rollback) Message() Message {
	m := Message{
		Subject: r.Subject(),
		Body: fmt.Sprintf("%s %s is rejected: no environment promotes it again until a person un-rejects it (ferry unreject %s %s).",
			r.App, r.From.Tag, r.App, r.From.Tag),
		Trailers: []Trailer{
			{keyApp, r.App}, {keyEnv, r.Env}, {keyVersion, r.To.Tag}, {keyDigest, r.To.Digest},
			{keyReason, OneLine(r.Reason)}, {keyRejects, r.From.Tag},
		},
	}
	if len(r.Mirrors) > 0 {
		m.Trailers = append(m.Trailers, Trailer{keyMirrors, strings.Join(r.Mirrors, ", ")})
	}
	m.Trailers = append(m.Trailers, r.Alert.trailers()...)
	return m
}

// Unfreeze lifts a freeze: Name by a person, or the freezes of an alert
// that resolved (Alert set).
type Unfreeze struct {
	Name   string // the freeze a person lifted
	Env    string // the environment an alert's freeze held
	Alert  string // the resolved alert's name
	Reason string
}

// Subject implements Record.
func (u *Unfreeze) Subject() string {
	if u.Alert != "" {
		return fmt.Sprintf("unfreeze %s: alert %s resolved", OneLine(u.Env), OneLine(u.Alert))
	}
	return "unfreeze " + OneLine(u.Name)
}

// Message implements Record.
func (u *Unfreeze) Message() Message {
	m := Message{Subject: u.Subject()}
	if u.Alert != "" {
		m.Trailers = []Trailer{{keyEnv, u.Env}, {keyReason, OneLine(u.Reason)}}
	}
	return m
}

// Freeze adds a freeze window by commit (ferry freeze).
type Freeze struct{ Name, Reason string }

// Subject implements Record.
func (f *Freeze) Subject() string { return "freeze " + OneLine(f.Name) + ": " + OneLine(f.Reason) }

// Message implements Record.
func (f *Freeze) Message() Message { return Message{Subject: f.Subject()} }

// Unreject allows a rejected version again (ferry unreject).
type Unreject struct{ App, Version string }

// Subject implements Record.
func (u *Unreject) Subject() string { return fmt.Sprintf("unreject %s %s", u.App, u.Version) }

// Message implements Record.
func (u *Unreject) Message() Message {
	return Message{Subject: u.Subject(), Trailers: []Trailer{{keyApp, u.App}, {keyVersion, u.Version}}}
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
		return p
	case strings.HasPrefix(m.Subject, prefixCanary) && app != "" && m.Trailer(keyCanary) != "" && m.Trailer(keyStep) != "":
		return canaryStepOf(m, app, env)
	case strings.HasPrefix(m.Subject, prefixAbort):
		if a, ok := abortOf(m, app, env); ok {
			return a
		}
	case strings.HasPrefix(m.Subject, prefixRollback) && app != "" && env != "":
		r := &Rollback{App: app, Env: env, To: version, Reason: m.Trailer(keyReason), Alert: alertOf(m)}
		r.From.Tag = m.Trailer(keyRejects)
		for _, mirror := range strings.Split(m.Trailer(keyMirrors), ",") {
			if mirror = strings.TrimSpace(mirror); mirror != "" {
				r.Mirrors = append(r.Mirrors, mirror)
			}
		}
		return r
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

func canaryStepOf(m Message, app, env string) *CanaryStep {
	c := &CanaryStep{App: app, Env: env, Version: Version{Tag: m.Trailer(keyCanary), Digest: m.Trailer(keyDigest)}}
	c.Step, c.Of = parseStep(m.Trailer(keyStep))
	c.Weight, _ = strconv.Atoi(m.Trailer(keyWeight))
	if _, label, ok := strings.Cut(m.Subject, ": step "); ok {
		_, c.Label, _ = strings.Cut(label, ", ")
	}
	if m.Trailer(keyDecision) == allow {
		g := gateOf(m)
		c.Gate = &g
	}
	if passed, ok := strings.CutPrefix(m.Trailer(keyReason), "step "); ok {
		c.Passed = strings.TrimSuffix(passed, " passed")
	}
	return c
}

// parseStep reads "i/n"; zeros when it does not parse.
func parseStep(s string) (int, int) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0
	}
	return i, n
}

// abortOf reads an abort, from its trailers or, for a message without them,
// from the subject's words "APP V in ENV".
func abortOf(m Message, app, env string) (*Abort, bool) {
	a := &Abort{App: app, Env: env, Canary: Version{Tag: m.Trailer(keyCanary)}, Step: m.Trailer(keyStep),
		Reason: m.Trailer(keyReason), Rejects: m.Trailer(keyRejects) != "", Alert: alertOf(m)}
	if stable, ok := strings.CutPrefix(m.Body, "All traffic goes back to "); ok {
		if f := strings.Fields(strings.TrimSuffix(stable, ".")); len(f) == 2 {
			a.Stable.Tag = f[1]
		}
	}
	if app != "" && env != "" {
		return a, true
	}
	f := strings.Fields(strings.TrimPrefix(m.Subject, prefixAbort))
	if len(f) != 4 || f[2] != "in" {
		return nil, false
	}
	a.App, a.Canary.Tag, a.Env = f[0], f[1], f[3]
	return a, true
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
	case *Change:
		return r.Msg.Trailer(keyApp), r.Msg.Trailer(keyEnv)
	}
	return "", ""
}
