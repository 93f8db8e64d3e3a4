package observe

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/gate"
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
