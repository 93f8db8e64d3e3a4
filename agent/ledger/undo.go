// The records that undo or hold: a rollback (and the alert it answers),
// freezes and their lifting, and a version allowed again.

package ledger

import (
	"fmt"
	"strings"
	"time"
)

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

// Rollback moves Env (and Mirrors) back from From to To and rejects From.
type Rollback struct {
	App, Env string
	To       Version
	From     Version // the rejected version
	Reason   string
	Mirrors  []string
	Alert    AlertRef
	// RequestedBy is the person who asked (`ferry rollback`, the
	// dashboard); zero for an alert's or an analysis's rollback.
	RequestedBy Actor
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
	m.Trailers = append(m.Trailers, r.RequestedBy.trailers()...)
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
