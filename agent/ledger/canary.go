// The records of a progressive delivery: each step's commit, and the
// abort that ends a bad one.

package ledger

import (
	"fmt"
	"strconv"
	"strings"
)

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
	// RequestedBy is the person whose manual promotion started the
	// delivery (step 0 of `ferry promote` into a canary environment).
	RequestedBy Actor
	// Reason is that person's reason (Ferry-Reason on step 0 only: on the
	// later steps that trailer says which step passed).
	Reason string
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
		m.Trailers = append(m.Trailers, c.RequestedBy.trailers()...)
		if c.Reason != "" {
			m.Trailers = append(m.Trailers, Trailer{keyReason, OneLine(c.Reason)})
		}
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
	// RequestedBy is the person who aborted it (`ferry abort`, the
	// dashboard); zero when an analysis or an alert did.
	RequestedBy Actor
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
	m.Trailers = append(m.Trailers, a.RequestedBy.trailers()...)
	return m
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
		c.RequestedBy = requestedBy(m)
		c.Reason = m.Trailer(keyReason)
		return c
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
		Reason: m.Trailer(keyReason), Rejects: m.Trailer(keyRejects) != "", Alert: alertOf(m), RequestedBy: requestedBy(m)}
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
