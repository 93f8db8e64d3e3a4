package state

import (
	"fmt"
	"testing"

	"github.com/ferry-dev/ferry/agent/ledger"
)

// History keeps the last MaxRemembered promotions per app and
// environment: a long-running agent's memory does not grow with every
// version it ever promoted.
func TestHistoryBounded(t *testing.T) {
	h := NewHistory()
	ver := func(i int) ledger.Version {
		return ledger.Version{Tag: fmt.Sprintf("1.%d.0", i), Digest: fmt.Sprintf("sha256:%064d", i)}
	}
	const n = 10 * MaxRemembered
	for i := range n {
		for _, app := range []string{"checkout", "cart"} {
			h.Record(app, "dev", ver(i))
			h.Record(app, "qa", ver(i))
		}
	}
	h.Record("checkout", "dev", ver(n-1)) // again: kept once
	if got, want := h.remembered(), 4*MaxRemembered; got != want {
		t.Errorf("remembered %d promotions, want %d (4 app-env pairs x %d)", got, want, MaxRemembered)
	}
	for _, tc := range []struct {
		app, env string
		v        ledger.Version
		want     bool
	}{
		{"checkout", "dev", ver(n - 1), true},
		{"checkout", "dev", ver(n - MaxRemembered), true},
		{"checkout", "dev", ver(n - MaxRemembered - 1), false},
		{"checkout", "dev", ledger.Version{Tag: ver(n - 1).Tag, Digest: "sha256:other"}, false},
		{"checkout", "prod", ver(n - 1), false},
		{"cart", "qa", ver(n - 2), true},
	} {
		if got := h.Promoted(tc.app, tc.env, tc.v); got != tc.want {
			t.Errorf("Promoted(%s, %s, %s) = %v, want %v", tc.app, tc.env, tc.v, got, tc.want)
		}
	}
}
