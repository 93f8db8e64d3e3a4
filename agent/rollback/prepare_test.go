package rollback

import (
	"context"
	"io/fs"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/overlays"
)

// countingWorld is newWorld whose rollbacker counts its overlay builds.
func countingWorld(t *testing.T) (*world, *atomic.Int32) {
	w := newWorld(t)
	var builds atomic.Int32
	render := func(fsys fs.FS, dir string) ([]byte, error) {
		builds.Add(1)
		return overlays.Render(fsys, dir)
	}
	clock := func() time.Time { return w.now }
	pub := publish.New(w.ferry, publish.Options{Backoff: time.Millisecond, Now: clock})
	w.rb = New(Options{Config: w.cfg, Publisher: pub, Log: w.ferry, Render: render, Now: clock,
		Deliveries: &canary.Deliveries{Config: w.cfg, Log: w.ferry, Render: overlays.Render, Now: clock}})
	return w, &builds
}

// TestPrepareBuildsAhead: after Prepare on the head a pass left, the
// alert's rollback there builds nothing more (qa and its mirror dr were
// built ahead) and commits what an unprepared one commits. On a head that
// moved since, nothing prepared is used: the rollback builds again.
func TestPrepareBuildsAhead(t *testing.T) {
	for _, tc := range []struct {
		name       string
		moved      bool // a person's commit lands between Prepare and the alert
		wantBuilds int32
	}{
		{"same head", false, 2},
		{"moved head", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, builds := countingWorld(t)
			w.promote("qa", "1.1.0")
			head := w.promote("qa", "1.2.0")
			snap, err := w.ferry.Snapshot(head)
			if err != nil {
				t.Fatal(err)
			}
			w.rb.Prepare(w.ctx, snap, "checkout", "dr") // a mirror: its target qa is prepared
			if n := builds.Load(); n != 2 {
				t.Fatalf("Prepare made %d builds, want 2 (qa and dr)", n)
			}
			if tc.moved {
				w.set(w.person, map[string]string{"dev": "1.3.0"}, nil)
			}
			res := w.rollback(alert("fp-1", time.Time{}, ""))
			if n := builds.Load(); n != tc.wantBuilds {
				t.Fatalf("%d builds in all, want %d", n, tc.wantBuilds)
			}
			_, versions, rejected := w.at()
			if res.Commit == "" || versions["qa"] != "1.1.0" || versions["dr"] != "1.1.0" || len(rejected) != 1 || rejected[0] != "1.2.0" {
				t.Fatalf("rollback: %+v; qa %s dr %s rejected %v", res, versions["qa"], versions["dr"], rejected)
			}
		})
	}
}

// TestPrepareConcurrent: an alert while its rollback is being prepared
// waits for the builds under way instead of running them twice, however
// the two interleave.
func TestPrepareConcurrent(t *testing.T) {
	w, builds := countingWorld(t)
	w.promote("qa", "1.1.0")
	head := w.promote("qa", "1.2.0")
	snap, err := w.ferry.Snapshot(head)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { w.rb.Prepare(w.ctx, snap, "checkout", "qa") })
	}
	res := w.rollback(alert("fp-1", time.Time{}, ""))
	wg.Wait()
	if res.Commit == "" {
		t.Fatalf("no rollback: %+v", res)
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d builds for one head's two overlays, prepared and rolled back", n)
	}
}

// TestPrepareAhead: PrepareAhead builds in the background, after
// prepareDelay, what the alert that follows needs; one asked for just
// before a rollback starts is not built at all (the rollback builds its
// own, and moves the head).
func TestPrepareAhead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name       string
		wait       bool // the alert comes after the preparation
		wantBuilds int32
	}{
		{"alert after it", true, 2},
		{"alert at once", false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, builds := countingWorld(t)
			w.promote("qa", "1.1.0")
			head := w.promote("qa", "1.2.0")
			snap, err := w.ferry.Snapshot(head)
			if err != nil {
				t.Fatal(err)
			}
			w.rb.PrepareAhead(ctx, snap, []Move{{App: "checkout", Env: "dev"}, {App: "checkout", Env: "qa"}})
			if tc.wait {
				deadline := time.Now().Add(10 * time.Second)
				for builds.Load() < 2 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if n := builds.Load(); n != 2 {
					t.Fatalf("%d builds prepared, want qa's and dr's", n)
				}
			}
			res := w.rollback(alert("fp-1", time.Time{}, ""))
			if res.Commit == "" {
				t.Fatalf("no rollback: %+v", res)
			}
			time.Sleep(3 * prepareDelay) // a preparation that was to run has run
			if n := builds.Load(); n != tc.wantBuilds {
				t.Fatalf("%d builds, want %d", n, tc.wantBuilds)
			}
		})
	}
}
