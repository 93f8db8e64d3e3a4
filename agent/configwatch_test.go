package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// TestPassStopsOnChangedConfig: a person's ferry.yaml commit that a pass
// fetches mid-way (its first push is refused, it reads the new head) ends
// the pass before the next step: qa is not promoted under the old
// configuration, which had it automatic and the new one has not.
func TestPassStopsOnChangedConfig(t *testing.T) {
	f := newTestFleet(t)
	ctx := context.Background()
	f.push(t, "shop/checkout", "1.0.0")
	// The test fleet's agent runs autoChain; the repo holds no ferry.yaml
	// until the person's commit writes one.
	var loaded []byte
	edited := false
	f.agent.WatchConfig(func(s *fleet.Snapshot) bool {
		if !edited {
			edited = true
			f.edit(t, "qa by hand from now on", map[string]func(string) string{
				"ferry.yaml": func(string) string {
					return strings.Replace(autoChain, "overlays/qa,   from: dev, auto: true", "overlays/qa,   from: dev, auto: false", 1)
				},
			})
		}
		data, _ := s.ReadFile("ferry.yaml")
		return string(data) != string(loaded)
	})
	res, err := f.agent.Reconcile(ctx, Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ConfigMoved == "" {
		t.Fatalf("the pass did not stop at the changed ferry.yaml: %+v", res.Promotions)
	}
	if got := f.git(t, "show", res.ConfigMoved+":ferry.yaml"); !strings.Contains(got, "auto: false") {
		t.Fatalf("ConfigMoved %s is not the person's configuration:\n%s", res.ConfigMoved, got)
	}
	log := f.git(t, "log", "--format=%s", "main")
	for _, env := range []string{"qa", "ppd", "prod", "dr"} {
		if strings.Contains(log, "to "+env) {
			t.Errorf("%s promoted under the old configuration:\n%s", env, log)
		}
	}
}
