package agent

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestUngatedLoggedOnChange: the ungated environments are logged at the
// first pass and again only when the list changes (a policy or config
// commit), not every pass.
func TestUngatedLoggedOnChange(t *testing.T) {
	var buf bytes.Buffer
	o := newObserver(slog.New(slog.NewTextHandler(&buf, nil)), nil, nil, time.Now)
	for _, tc := range []struct {
		envs []string
		logs int
	}{
		{[]string{"environment qa: x", "environment prod: y"}, 2}, // start-up
		{[]string{"environment qa: x", "environment prod: y"}, 0}, // the next pass
		{[]string{"environment prod: y"}, 1},                      // a policy for qa landed
		{nil, 0},                                                  // every environment gated
		{[]string{"environment prod: y"}, 1},                      // prod's rule removed
	} {
		buf.Reset()
		o.ungated(tc.envs)
		if n := strings.Count(buf.String(), `msg="ungated environment"`); n != tc.logs {
			t.Errorf("ungated(%q) logged %d lines, want %d:\n%s", tc.envs, n, tc.logs, buf.String())
		}
	}
}

// TestScopeSize: a full pass logs apps=all, not apps=0 beside its
// promotions (issue 14 item 7).
func TestScopeSize(t *testing.T) {
	for _, tc := range []struct {
		s    Scope
		want string
	}{
		{Scope{All: true}, "all"},
		{Scope{All: true, Apps: []string{"cart"}}, "all"},
		{Scope{Apps: []string{"cart", "checkout"}}, "2"},
		{Scope{}, "0"},
	} {
		if got := tc.s.size(); got != tc.want {
			t.Errorf("%+v.size() = %q, want %q", tc.s, got, tc.want)
		}
	}
}
