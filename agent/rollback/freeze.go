// An alert's freeze: named after its episode, lifted when it resolves.

package rollback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gitstate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/internal/dnslabel"
)

// freezeName names the freeze an alert holds: alert-FINGERPRINT when that
// is a DNS label (Alertmanager's are 16 hex digits), else a hash of it. A
// sender's fingerprint like "fpM1" made an invalid name, and the rollback
// with it was given up. The freeze is found again by its alert field.
func freezeName(fingerprint string) string {
	if name := "alert-" + fingerprint; dnslabel.Valid(name) {
		return name
	}
	sum := sha256.Sum256([]byte(fingerprint))
	return "alert-" + hex.EncodeToString(sum[:8])
}

// Resolve lifts the freeze a rollback put on the alert's environment, once
// the alert resolves. It returns the commit, or "" when there was none.
func (r *Rollbacker) Resolve(ctx context.Context, req Request) (string, error) {
	out, err := r.opts.Publisher.Publish(ctx, "lift the freeze of alert "+req.Name, true, func(_ context.Context, head *fleet.Snapshot) ([]publish.Edit, error) {
		st := state.Read(r.opts.Config, head, nil)
		data, changed, err := gitstate.RemoveFreezesForAlert(st.FreezeData, req.Alert.Fingerprint)
		if err != nil || !changed {
			return nil, err
		}
		rec := &ledger.Unfreeze{Env: req.Env, Alert: req.Name, Reason: fmt.Sprintf("alert %s (%s) resolved", req.Name, req.Alert.Fingerprint)}
		return []publish.Edit{{Files: map[string][]byte{gitstate.FreezesFile: data}, Record: rec}}, nil
	})
	if err != nil || len(out.Commits) == 0 {
		return "", err
	}
	return out.Commits[0].Hash(), nil
}
