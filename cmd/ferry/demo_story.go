package main

// The demo's script, and the waits it is made of: each one reads the
// fleet repo, the forge or the agent's results until they say so.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/pullrequest"
)

// story is the demo's script. It waits on what the fleet repo, the forge
// and the agent's results say, never on a clock.
func (d *demo) story(ctx context.Context) error {
	// A good release walks every gate and every canary step.
	d.say("== release checkout 1.1.0: scanned clean, Sonar quality gate OK, healthy")
	if _, err := d.release(ctx, "1.1.0", true, true); err != nil {
		return err
	}
	pr, err := d.waitPR(ctx, "promote checkout 1.1.0 to ppd")
	if err != nil {
		return err
	}
	d.report(pr)
	if err := d.approve(ctx, pr); err != nil {
		return err
	}
	if err := d.signOff(ctx, "1.1.0"); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "checkout 1.1.0 to reach prod (after every canary step) and dr", func() bool {
		r := d.work.snapshot()
		return r["prod"].stable == "1.1.0" && r["prod"].canaryWeight == 0 && r["dr"].stable == "1.1.0"
	}); err != nil {
		return err
	}

	// A bad release is aborted by the canary's analysis.
	d.say("== release checkout 1.2.0: passes qa, but fails 20%% of prod's requests")
	d.health.set("prod", "1.2.0", 0.2)
	if _, err := d.release(ctx, "1.2.0", true, true); err != nil {
		return err
	}
	if pr, err = d.waitPR(ctx, "promote checkout 1.2.0 to ppd"); err != nil {
		return err
	}
	if err := d.approve(ctx, pr); err != nil {
		return err
	}
	if err := d.signOff(ctx, "1.2.0"); err != nil {
		return err
	}
	if err := d.waitRecord(ctx, "the abort of 1.2.0's canary", func(r ledger.Record) bool {
		a, ok := r.(*ledger.Abort)
		return ok && a.Canary.Tag == "1.2.0"
	}); err != nil {
		return err
	}

	// An alert rolls prod back.
	d.say("== incident: checkout 1.1.0 starts failing 30%% of prod's requests (a dependency changed)")
	d.health.set("prod", "1.1.0", 0.3)
	if err := d.waitRecord(ctx, "the alert's rollback of prod from 1.1.0", func(r ledger.Record) bool {
		rb, ok := r.(*ledger.Rollback)
		return ok && rb.Env == "prod" && rb.From.Tag == "1.1.0" && rb.Alert.Fingerprint != ""
	}); err != nil {
		return err
	}

	// A scan gate.
	d.say("== release checkout 1.2.1: its scan finds a CRITICAL vulnerability")
	if _, err := d.release(ctx, "1.2.1", false, true); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "qa's gate to deny 1.2.1", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return slices.Contains(d.denials, "qa 1.2.1")
	}); err != nil {
		return err
	}

	// A release waits for approval.
	d.say("== release checkout 1.3.0, fixed (and a pre-release 1.4.0-rc.1, which semver >=1.0.0 skips)")
	if _, err := d.release(ctx, "1.3.0", true, true); err != nil {
		return err
	}
	if _, err := pushDemoImage(ctx, d.regURL, "1.4.0-rc.1", "0badc0de", nil); err != nil {
		return err
	}
	if pr, err = d.waitPR(ctx, "promote checkout 1.3.0 to ppd"); err != nil {
		return err
	}
	d.report(pr)
	d.say("ppd waits for a person to merge pull request #%d: the demo leaves it open", pr.Number)
	return nil
}

// waitFor polls cond until it holds or ctx ends (the demo's deadline
// names what it waited for).
func (d *demo) waitFor(ctx context.Context, what string, cond func() bool) error {
	d.mu.Lock()
	d.step = what
	d.mu.Unlock()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (d *demo) waitPR(ctx context.Context, title string) (pullrequest.PR, error) {
	var pr pullrequest.PR
	err := d.waitFor(ctx, "the pull request "+title, func() bool {
		var ok bool
		pr, ok = d.forge.open(title)
		return ok
	})
	return pr, err
}

// waitRecord waits for a record on main that match accepts.
func (d *demo) waitRecord(ctx context.Context, what string, match func(ledger.Record) bool) error {
	return d.waitFor(ctx, what, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, r := range d.records {
			if match(r) {
				return true
			}
		}
		return false
	})
}

// signOff waits until prod holds tag for the product owner's approval,
// then gives it as `ferry approve checkout TAG --env prod --as carol` would.
func (d *demo) signOff(ctx context.Context, tag string) error {
	if err := d.waitFor(ctx, "prod to wait for the product owner's approval of "+tag, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.waiting["prod "+tag]
	}); err != nil {
		return err
	}
	d.say("the product owner approves: ferry approve checkout %s --env prod --as carol --reason \"release notes reviewed\"", tag)
	_, err := d.agent.Approve(ctx, "checkout", tag, "prod", ledger.Actor{Name: "carol", Via: ledger.ViaCLI}, nil, "release notes reviewed")
	return err
}

// approve merges a pull request, as its reviewer would.
func (d *demo) approve(ctx context.Context, pr pullrequest.PR) error {
	d.say("a reviewer approves pull request #%d: merged", pr.Number)
	commit, err := d.forge.merge(ctx, pr.Number)
	if err != nil {
		return err
	}
	// The forge's push event, as Gitea sends it: ferry passes at once.
	body := fmt.Sprintf(`{"ref": "refs/heads/main", "after": %q, "repository": {"clone_url": %q}}`, commit, d.bare)
	d.say("forge: push event -> ferry POST /hooks/git (bearer token): %s", d.post("/hooks/git", "application/json", body))
	return nil
}
