package dora

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/fleet"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// story is a day of a fleet: ferry's promotions with and without
// Ferry-Created, a person's commits (to dev and straight to prod), a
// rollback, a canary aborted, a pull request merged (the restore) and a
// person's revert that nothing has restored yet. dr mirrors prod.
func story() *builder {
	b := newBuilder()
	all := []string{"dev", "qa", "ppd", "prod", "dr"}
	for _, e := range all {
		b.set(e, img("checkout"), "1.0.0").set(e, img("cart"), "2.0.0")
	}
	b.commit(0, "alice", person("seed the fleet"), all...)
	co := img("checkout")
	// A reproducible build's 1970 creation time is no origin: the next
	// promotion's real one is used.
	b.set("dev", co, "1.1.0").commit(1, "ferry", promote("checkout", "1.1.0", "dev", "1970-01-01T00:00:00Z"), "dev")
	b.set("qa", co, "1.1.0").commit(2, "ferry", promote("checkout", "1.1.0", "qa", rfc(0.5)), "qa")
	b.set("ppd", co, "1.1.0").commit(3, "ferry", promote("checkout", "1.1.0", "ppd", rfc(0.5)), "ppd")
	b.set("dev", img("cart"), "2.1.0").commit(4, "bob", person("bump cart to 2.1.0 in dev"), "dev")
	b.set("prod", co, "1.1.0").commit(5, "ferry", promote("checkout", "1.1.0", "prod", rfc(0.5)), "prod")
	b.set("dr", co, "1.1.0").commit(5.25, "ferry", promote("checkout", "1.1.0", "dr", rfc(0.5)), "dr")
	b.set("dev", co, "1.2.0").commit(6, "ferry", promote("checkout", "1.2.0", "dev", rfc(5.5)), "dev")
	b.set("qa", co, "1.2.0").commit(6.5, "ferry", promote("checkout", "1.2.0", "qa", rfc(5.5)), "qa")
	b.set("ppd", co, "1.2.0").commit(7, "ferry", promote("checkout", "1.2.0", "ppd", rfc(5.5)), "ppd")
	b.set("prod", img("cart"), "2.1.0").commit(7.5, "bob", person("cart 2.1.0 to prod"), "prod")
	b.set("prod", co, "1.2.0").commit(8, "ferry", promote("checkout", "1.2.0", "prod", rfc(5.5)), "prod")
	b.set("prod", co, "1.1.0").commit(9, "ferry", rollback("checkout", "prod", "1.1.0", "1.2.0"), "prod")
	b.set("dev", co, "1.3.0").commit(10, "carol", person("checkout 1.3.0 in dev"), "dev")
	b.set("qa", co, "1.3.0").commit(10.5, "ferry", promote("checkout", "1.3.0", "qa", ""), "qa")
	b.set("ppd", co, "1.3.0").commit(11, "ferry", promote("checkout", "1.3.0", "ppd", ""), "ppd")
	b.set("prod", co+"-canary", "1.3.0").commit(12, "ferry", canaryStart("checkout", "1.3.0", "prod"), "prod")
	b.set("prod", co+"-canary", "1.1.0").commit(13, "ferry", abort("checkout", "1.3.0", "prod"), "prod")
	b.set("dev", co, "1.4.0").commit(14, "ferry", promote("checkout", "1.4.0", "dev", rfc(13.5)), "dev")
	b.set("qa", co, "1.4.0").commit(14.5, "ferry", promote("checkout", "1.4.0", "qa", rfc(13.5)), "qa")
	b.set("ppd", co, "1.4.0").commit(15, "ferry", promote("checkout", "1.4.0", "ppd", rfc(13.5)), "ppd")
	b.set("prod", co+"-canary", "").set("prod", co, "1.4.0").merge(16, 3, promote("checkout", "1.4.0", "prod", rfc(13.5)), "prod")
	b.set("prod", img("cart"), "2.2.0").commit(17, "bob", person("cart 2.2.0 to prod"), "prod")
	b.set("prod", img("cart"), "2.1.0").commit(18, "bob", person(`Revert "cart 2.2.0 to prod"`), "prod")
	b.set("ppd", img("cart"), "2.1.0").commit(20, "bob", person("cart 2.1.0 to ppd"), "ppd")
	return b
}

func hours(h float64) float64 { return h * 3600 }

func TestCompute(t *testing.T) {
	f := build(t, story())
	type want struct {
		deploys, changes, failures, rollbacks, open int
		cfr, leadP50, leadP90, restoreP50           float64
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		golden string
		all    want
		perApp map[string]want
	}{{
		name: "prod, whole history", golden: "prod-all.json",
		opts: Options{Now: at(24)},
		// checkout: 1.1.0 (lead 4.5h from Ferry-Created), 1.2.0 (2.5h, rolled
		// back), 1.4.0 (2.5h, merged pull request: the second parent's
		// trailer); canary 1.3.0 aborted. cart: 2.1.0 (3.5h after dev), 2.2.0
		// (0: first seen in prod, reverted).
		all: want{deploys: 5, changes: 6, failures: 3, rollbacks: 2, open: 1, cfr: 0.5,
			leadP50: hours(2.5), leadP90: hours(4.1), restoreP50: hours(7)},
		perApp: map[string]want{
			"checkout": {deploys: 3, changes: 4, failures: 2, rollbacks: 1, cfr: 0.5,
				leadP50: hours(2.5), leadP90: hours(4.1), restoreP50: hours(7)},
			"cart": {deploys: 2, changes: 2, failures: 1, rollbacks: 1, open: 1, cfr: 0.5,
				leadP50: hours(1.75), leadP90: hours(3.15)},
		},
	}, {
		name: "prod, last 10h", golden: "prod-10h.json",
		opts: Options{Now: at(24), Since: 10 * time.Hour},
		// From hour 14: checkout 1.4.0; cart 2.2.0 and its revert.
		all: want{deploys: 2, changes: 2, failures: 1, rollbacks: 1, open: 1, cfr: 0.5,
			leadP50: hours(1.25), leadP90: hours(2.25)},
	}, {
		name: "qa, one app", golden: "qa-checkout.json",
		opts: Options{Now: at(24), Env: "qa", App: "checkout"},
		// 1.1.0 (1.5h), 1.2.0 (1h), 1.3.0 (0.5h after carol's dev commit), 1.4.0 (1h).
		all: want{deploys: 4, changes: 4, leadP50: hours(1), leadP90: hours(1.35)},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Compute(context.Background(), f.repo, f.head, f.cfg, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			check(t, "all apps", r.Overall, tc.all)
			for _, a := range r.Apps {
				if w, ok := tc.perApp[a.App]; ok {
					check(t, a.App, a.Metrics, w)
				}
			}
			got, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, append(got, '\n'))
		})
	}
}

func check(t *testing.T, what string, m Metrics, w struct {
	deploys, changes, failures, rollbacks, open int
	cfr, leadP50, leadP90, restoreP50           float64
}) {
	t.Helper()
	gotInts := []int{m.Deployments, m.Changes, m.Failures, m.Rollbacks, m.OpenIncidents}
	wantInts := []int{w.deploys, w.changes, w.failures, w.rollbacks, w.open}
	for i, name := range []string{"deployments", "changes", "failures", "rollbacks", "open incidents"} {
		if gotInts[i] != wantInts[i] {
			t.Errorf("%s: %s = %d, want %d", what, name, gotInts[i], wantInts[i])
		}
	}
	gotF := []float64{m.ChangeFailureRate, m.LeadTime.P50, m.LeadTime.P90, m.TimeToRestore.P50}
	wantF := []float64{w.cfr, w.leadP50, w.leadP90, w.restoreP50}
	for i, name := range []string{"change failure rate", "lead time p50", "lead time p90", "time to restore p50"} {
		if diff := gotF[i] - wantF[i]; diff > 1e-6 || diff < -1e-6 {
			t.Errorf("%s: %s = %v, want %v", what, name, gotF[i], wantF[i])
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n%s", name, got)
	}
}

// TestDeploymentsMatchGitLog checks the deployments against git itself:
// git log --first-parent -p of prod's kustomization shows each version
// change; those that are not rollbacks nor the baseline are deployments.
func TestDeploymentsMatchGitLog(t *testing.T) {
	f := build(t, story())
	r, err := Compute(context.Background(), f.repo, f.head, f.cfg, Options{Now: at(24)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range r.Apps {
		for _, c := range a.History {
			if c.Kind == KindDeployment {
				got = append(got, c.Commit)
			}
		}
	}
	// Commits of prod's overlay whose subject is not a rollback, a revert, a
	// canary step or the seed, and whose diff changes a stable newTag.
	var want []string
	for _, line := range strings.Split(f.git(t, "log", "--first-parent", "--format=%H %s", "--", "overlays/prod/kustomization.yaml"), "\n") {
		hash, subject, _ := strings.Cut(line, " ")
		if strings.HasPrefix(subject, "rollback ") || strings.HasPrefix(subject, "Revert ") ||
			strings.HasPrefix(subject, "canary ") || strings.HasPrefix(subject, "abort ") || subject == "seed the fleet" {
			continue
		}
		want = append(want, hash)
	}
	if len(got) != len(want) {
		t.Fatalf("deployments %v, git log shows %v", got, want)
	}
	for _, h := range want {
		if !strings.Contains(strings.Join(got, " "), h) {
			t.Errorf("git log's %s is not a deployment in %v", h, got)
		}
	}
}

func TestComputeErrors(t *testing.T) {
	f := build(t, story())
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Env: "staging"}, `environment "staging" is not in the pipeline`},
		{Options{App: "payments"}, `app "payments" is not in the pipeline`},
		{Options{Since: -time.Hour}, "negative"},
	} {
		_, err := Compute(context.Background(), f.repo, f.head, f.cfg, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := Compute(context.Background(), f.repo, nil, f.cfg, Options{}); err == nil {
		t.Error("no head: want an error")
	}
}

func TestDefaultEnv(t *testing.T) {
	f := build(t, story())
	env, err := DefaultEnv(f.cfg)
	if err != nil || env != "prod" {
		t.Fatalf("DefaultEnv = %q, %v; want prod (dr mirrors it)", env, err)
	}
}

func TestWriteText(t *testing.T) {
	f := build(t, story())
	r, err := Compute(context.Background(), f.repo, f.head, f.cfg, Options{Now: at(24)})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "prod-all.txt", b.Bytes())
}

// TestIncremental checks that reading on from an earlier head's history
// (what the collector does when Git moves) gives what a full read gives,
// and that a rewritten branch falls back to a full read.
func TestIncremental(t *testing.T) {
	b := story()
	f := build(t, b)
	b.set("prod", img("cart"), "2.3.0").commit(21, "bob", person("cart 2.3.0 to prod"), "prod")
	b.set("prod", img("checkout"), "1.5.0").commit(22, "ferry", promote("checkout", "1.5.0", "prod", rfc(21.5)), "prod")
	f2 := build(t, b)
	opts := Options{Now: at(24)}
	_, prev, err := compute(context.Background(), f2.repo, mustSnapshot(t, f2, f.head.Hash()), f2.cfg, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Compute(context.Background(), f2.repo, f2.head, f2.cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	inc, _, err := compute(context.Background(), f2.repo, f2.head, f2.cfg, opts, prev)
	if err != nil {
		t.Fatal(err)
	}
	if full.Overall.Deployments != 7 {
		t.Errorf("full read: %d deployments, want 7", full.Overall.Deployments)
	}
	a, _ := json.Marshal(full)
	c, _ := json.Marshal(inc)
	if !bytes.Equal(a, c) {
		t.Errorf("incremental read differs from the full one:\n%s\n%s", c, a)
	}
	// A history that does not contain prev's head is read in full.
	other := build(t, newBuilder().set("prod", img("cart"), "9.0.0").commit(0, "x", person("new"), "prod"))
	prev.head = other.head.Hash()
	again, _, err := compute(context.Background(), f2.repo, f2.head, f2.cfg, opts, prev)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := json.Marshal(again); !bytes.Equal(a, c) {
		t.Errorf("after a rewrite: %s, want %s", c, a)
	}
}

func mustSnapshot(t *testing.T, f *fixture, hash string) *fleet.Snapshot {
	t.Helper()
	s, err := f.repo.Snapshot(hash)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
