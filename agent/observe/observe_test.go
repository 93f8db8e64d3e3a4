package observe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/registry"
)

// TestUngatedLoggedOnChange: the ungated environments are logged at the
// first pass and again only when the list changes (a policy or config
// commit), not every pass.
func TestUngatedLoggedOnChange(t *testing.T) {
	var buf bytes.Buffer
	o := New(slog.New(slog.NewTextHandler(&buf, nil)), nil, nil, time.Now)
	qa := gate.Ungated{Env: "qa", Reason: "environment qa: x"}
	prod := gate.Ungated{Env: "prod", Reason: "environment prod: y"}
	for _, tc := range []struct {
		envs        []gate.Ungated
		warns, info int
	}{
		{nil, 0, 0},                      // start-up, every environment gated: nothing to say
		{[]gate.Ungated{qa, prod}, 2, 0}, // a policy commit left two ungated
		{[]gate.Ungated{qa, prod}, 0, 0}, // the next pass
		{[]gate.Ungated{prod}, 1, 0},     // a policy for qa landed
		{nil, 0, 1},                      // every environment gated again: said once
		{nil, 0, 0},
		{[]gate.Ungated{prod}, 1, 0}, // prod's rule removed
	} {
		buf.Reset()
		o.Ungated(tc.envs)
		warns := strings.Count(buf.String(), `msg="ungated environment"`)
		info := strings.Count(buf.String(), `msg="every environment is gated`)
		if warns != tc.warns || info != tc.info {
			t.Errorf("ungated(%v) logged %d warnings and %d all-clear, want %d and %d:\n%s", tc.envs, warns, info, tc.warns, tc.info, buf.String())
		}
	}
}

// TestDenialLogKeepsNotesApart: a denial's reasons and notes are one
// field each, the messages joined with "; ", not fmt's [a b] that ran two
// notes together into one sentence (issue 14 item 7).
func TestDenialLogKeepsNotesApart(t *testing.T) {
	var buf bytes.Buffer
	o := New(slog.New(slog.NewTextHandler(&buf, nil)), nil, nil, time.Now)
	o.Decided(plan.Step{App: "checkout", Env: "qa", Action: plan.ActionDeny, Reason: "denied", Decision: &gate.Decision{
		Deny:  []string{"no Trivy report", "a CRITICAL vulnerability"},
		Notes: []string{"no Trivy report is attached to r@sha256:0123", "SonarQube has no analysis of checkout at revision abc"},
	}}, time.Now())
	for _, want := range []string{
		`reasons="no Trivy report; a CRITICAL vulnerability"`,
		`notes="no Trivy report is attached to r@sha256:0123; SonarQube has no analysis of checkout at revision abc"`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

// TestUntrustedTagLoggedOnce: a tag passed over for want of a verified
// signature is one warning while its reason stands, and another when the
// reason changes.
func TestUntrustedTagLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	o := New(slog.New(slog.NewTextHandler(&buf, nil)), nil, nil, time.Now)
	cands := func(reason string) plan.Candidates {
		return plan.Candidates{"checkout": {Untrusted: []registry.Skipped{{Tag: "1.2.0", Reason: reason}}}}
	}
	o.Polled(cands("no signature found"))
	o.Polled(cands("no signature found"))
	o.Polled(cands("signature by SHA256:x does not verify with cosign.pub"))
	got := strings.Count(buf.String(), "tag not trusted")
	if got != 2 || !strings.Contains(buf.String(), "tag=1.2.0") || !strings.Contains(buf.String(), `reason="no signature found"`) {
		t.Errorf("%d warnings, want 2 (one per reason):\n%s", got, buf.String())
	}
}

// events records what would be sent.
type events struct{ got []notify.Event }

func (e *events) Notify(ev notify.Event) { e.got = append(e.got, ev) }

// TestSupplyChainNotified: an untrusted tag and an unverified commit are
// each one notification, however many passes see them.
func TestSupplyChainNotified(t *testing.T) {
	n := &events{}
	o := New(slog.New(slog.DiscardHandler), nil, n, time.Now)
	cands := plan.Candidates{"checkout": {Untrusted: []registry.Skipped{{Tag: "1.2.0", Reason: "no signature found"}}}}
	step := plan.Step{App: "checkout", Env: "qa", From: "dev", Action: plan.ActionHold, Reason: "checkout 1.1.0 in dev is not taken: ...",
		Unverified: "commit abc123def456 by bob@example.com is not verified: the commit is not signed", UnverifiedTag: "1.1.0"}
	for range 3 {
		o.Polled(cands)
		o.Decided(step, time.Now())
	}
	if len(n.got) != 2 {
		t.Fatalf("%d notifications, want 2: %+v", len(n.got), n.got)
	}
	tag, commit := n.got[0], n.got[1]
	if tag.Kind != notify.UntrustedTag || tag.App != "checkout" || tag.Version != "1.2.0" || tag.Reason != "no signature found" {
		t.Errorf("untrusted tag event %+v", tag)
	}
	if commit.Kind != notify.UnverifiedCommit || commit.Env != "dev" || commit.Version != "1.1.0" || !strings.Contains(commit.Reason, "bob@example.com") {
		t.Errorf("unverified commit event %+v", commit)
	}
}
