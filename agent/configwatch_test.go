package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/plan"
	"github.com/ferry-dev/ferry/agent/webhook"
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

// forgetfulRegistry records which images' kept tag lists were dropped.
type forgetfulRegistry struct {
	plan.Registry
	forgot []string
}

func (r *forgetfulRegistry) ForgetTags(image string) { r.forgot = append(r.forgot, image) }

// A registry push notification drops the kept tag list of the repository
// it names, so the pass it asks for lists the tags in full (the pushed tag
// may be one a 304 would hide); other repositories keep theirs.
func TestRegistryNotificationAsksInFull(t *testing.T) {
	f := newTestFleet(t)
	reg := &forgetfulRegistry{Registry: f.agent.poller.Registry}
	f.agent.poller.Registry = reg
	l := NewLoop(f.agent, time.Minute)
	l.OnRegistryEvents(context.Background(), []webhook.RegistryEvent{{Repository: "shop/checkout", Tag: "1.0.1"}})
	if len(reg.forgot) != 1 || !strings.HasSuffix(reg.forgot[0], "/shop/checkout") {
		t.Fatalf("forgot %v, want checkout's image only", reg.forgot)
	}
	l.OnRegistryEvents(context.Background(), []webhook.RegistryEvent{{Repository: "shop/nothing", Tag: "1.0.1"}})
	if len(reg.forgot) != 1 {
		t.Fatalf("a notification that names no app forgot %v", reg.forgot)
	}
}
