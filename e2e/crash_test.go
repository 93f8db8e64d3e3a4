//go:build e2e

package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-dev/ferry/overlays"
)

// threeApps is chainConfig with a third app, payment, whose workload and
// images entries extraApps adds to the example fleet.
func threeApps() string {
	return strings.Replace(chainConfig, "environments:\n",
		"  - name: payment\n    image: REGISTRY/shop/payment\n    tags: {semver: \">=1.0.0\"}\nenvironments:\n", 1)
}

// extraApps returns the example fleet's base and overlays with a Deployment
// and an images entry for each named app besides checkout and cart.
// REGISTRY stays a placeholder for startFleetWith to fill in.
func extraApps(t testing.TB, names ...string) map[string]string {
	t.Helper()
	read := func(p string) string {
		b, err := fs.ReadFile(overlays.Example, "example/"+p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	files := map[string]string{}
	base := read("base/kustomization.yaml")
	deploy := read("base/cart-deployment.yaml")
	var entries strings.Builder
	for _, n := range names {
		base += "- " + n + "-deployment.yaml\n"
		files["base/"+n+"-deployment.yaml"] = strings.ReplaceAll(deploy, "cart", n)
		fmt.Fprintf(&entries, "- name: registry.example/shop/%s\n  newName: REGISTRY/shop/%s\n  newTag: 0.0.0\n", n, n)
	}
	files["base/kustomization.yaml"] = base
	for _, env := range allEnvs {
		p := "overlays/" + env + "/kustomization.yaml"
		files[p] = read(p) + entries.String()
	}
	return files
}

// envFrom is each chain environment's source, as in chainConfig.
var envFrom = map[string]string{"qa": "dev", "ppd": "qa", "prod": "ppd", "dr": "prod"}

// historyCheck is what the fleet repo's history says about a run.
type historyCheck struct {
	promotions int
	lost       []string // newest versions missing from an env, or earlier heads no longer reachable
	duplicated []string // (app env version) promoted more than once
	disordered []string // a version into an env before its source env had it, or a downgrade
	broken     []string // commits where an overlay does not build
}

// checkHistory compares the fleet repo with what should have happened:
// newest[app] in every env, each promotion once, each env moving forward
// after its source env, every head seen earlier still on main, and every
// commit's overlays building.
func checkHistory(t testing.TB, fleet *fleetRepo, newest map[string]string, order map[string][]string, heads []string) historyCheck {
	t.Helper()
	var h historyCheck
	promos := fleet.promotions(t)
	h.promotions = len(promos)
	seen := map[string]bool{}
	lastIdx := map[string]int{} // app env -> index of its version in order[app]
	for _, p := range promos {
		if seen[p] {
			h.duplicated = append(h.duplicated, p)
		}
		seen[p] = true
		f := strings.Fields(p)
		if len(f) != 3 {
			h.disordered = append(h.disordered, "malformed trailers: "+p)
			continue
		}
		app, env, v := f[0], f[1], f[2]
		if from, ok := envFrom[env]; ok && !seen[app+" "+from+" "+v] {
			h.disordered = append(h.disordered, p+" before "+from)
		}
		idx := slices.Index(order[app], v)
		if prev, ok := lastIdx[app+" "+env]; ok && idx <= prev {
			h.disordered = append(h.disordered, p+" after a newer version")
		}
		lastIdx[app+" "+env] = idx
	}
	for app, v := range newest {
		for _, env := range allEnvs {
			if !seen[app+" "+env+" "+v] {
				h.lost = append(h.lost, app+" "+env+" "+v)
			}
		}
	}
	for _, head := range slices.Compact(slices.Clone(heads)) {
		if err := exec.Command("git", "-C", fleet.bare, "merge-base", "--is-ancestor", head, "main").Run(); err != nil {
			h.lost = append(h.lost, "head "+head+" is no longer on main")
		}
	}
	// Every commit's overlays, rendered on every core.
	commits := strings.Fields(fleet.git(t, "rev-list", "main"))
	trees := make([]fs.FS, len(commits))
	for i, c := range commits {
		trees[i] = commitTree(t, fleet, c)
	}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, c := range commits {
		g.Go(func() error {
			for _, env := range allEnvs {
				if _, err := overlays.Render(trees[i], "overlays/"+env); err != nil {
					mu.Lock()
					h.broken = append(h.broken, fmt.Sprintf("%s overlays/%s: %v", c[:12], env, err))
					mu.Unlock()
				}
			}
			return nil
		})
	}
	_ = g.Wait()
	return h
}

// commitTree is a commit's files, read with git archive.
func commitTree(t testing.TB, fleet *fleetRepo, commit string) fs.FS {
	t.Helper()
	out, err := exec.Command("git", "-C", fleet.bare, "archive", "--format=tar", commit).Output()
	if err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	tree := fstest.MapFS{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		tree[path.Clean(hdr.Name)] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return tree
}

// TestCrashLoop: three apps move through every environment while ferry is
// killed with SIGKILL 100 times, each after a random 20-400 ms, and started
// again on the same work dir; new versions are pushed along the way. The
// fleet repo's history must show no lost and no duplicated promotion and no
// commit whose overlays do not build.
func TestCrashLoop(t *testing.T) {
	const kills = 100
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("crash: seed=%d", seed)

	reg := startRegistry(t, "", "")
	fleet := startFleetWith(t, reg.host, threeApps(), extraApps(t, "payment"))
	// Versions pushed as the kills go on, a round every pushEvery kills so
	// that most kills meet a pass with work to do: each app's list, in order.
	const pushEvery = 4
	order := map[string][]string{}
	for r := 0; r < kills/pushEvery; r++ {
		order["checkout"] = append(order["checkout"], fmt.Sprintf("1.%d.0", r))
		order["payment"] = append(order["payment"], fmt.Sprintf("1.%d.0", r))
		order["cart"] = append(order["cart"], fmt.Sprintf("main-%d", r+1))
	}
	newest := map[string]string{}
	pushRound := func(i int) {
		for app, vs := range order {
			reg.push(t, "shop/"+app, vs[i])
			newest[app] = vs[i]
		}
	}
	pushRound(0)
	work := t.TempDir()
	var heads []string
	start := time.Now()
	finished, progressed := 0, 0 // passes that ended before their kill; kills after a push landed
	for i := 0; i < kills; i++ {
		if i > 0 && i%pushEvery == 0 {
			pushRound(i / pushEvery)
		}
		before := strings.TrimSpace(fleet.git(t, "rev-parse", "main"))
		cmd := exec.Command(ferryBin, "run", "--once", "--config", fleet.url, "--work-dir", work)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(381)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err == nil {
			finished++ // the pass ended before the kill
		}
		after := strings.TrimSpace(fleet.git(t, "rev-parse", "main"))
		if after != before {
			progressed++
		}
		heads = append(heads, after)
	}
	// A last pass without a kill finishes the work; the one after it has none.
	for pass, want := range []string{"", "nothing to promote"} {
		out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("final pass %d: exit %d, want output with %q:\n%s", pass+1, code, want, out)
		}
	}
	took := time.Since(start)

	h := checkHistory(t, fleet, newest, order, heads)
	t.Logf("crash: kills=%d promotions=%d lost=%d duplicated=%d disordered=%d broken=%d killed-mid-pass=%d pushed-before-kill=%d took=%s",
		kills, h.promotions, len(h.lost), len(h.duplicated), len(h.disordered), len(h.broken), kills-finished, progressed, took.Round(time.Second))
	for name, list := range map[string][]string{"lost": h.lost, "duplicated": h.duplicated, "disordered": h.disordered, "broken": h.broken} {
		if len(list) > 0 {
			t.Errorf("%s: %q", name, list)
		}
	}
	if h.promotions < len(order)*len(allEnvs) {
		t.Errorf("only %d promotions", h.promotions)
	}
	if t.Failed() {
		t.Logf("history:\n%s", fleet.git(t, "log", "--format=%h %s", "main"))
	}
}

// TestTornRefRecovered is the crash loop's first finding as a regression
// test: go-git truncates a ref file before writing it, so a kill in between
// left refs/remotes/origin/main empty and every later start failed with
// "ref file is empty". ferry now drops the torn ref and fetches it again.
func TestTornRefRecovered(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, chainConfig)
	reg.push(t, "shop/checkout", "1.0.0")
	reg.push(t, "shop/cart", "main-1")
	work := t.TempDir()
	if out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work); code != 0 {
		t.Fatalf("first pass: exit %d:\n%s", code, out)
	}
	torn, err := exec.Command("find", work, "-path", "*/refs/remotes/origin/main", "-type", "f").Output()
	if err != nil || len(strings.Fields(string(torn))) == 0 {
		t.Fatalf("no remote-tracking ref under %s: %v", work, err)
	}
	for _, p := range strings.Fields(string(torn)) {
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	reg.push(t, "shop/checkout", "1.1.0")
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work)
	if code != 0 {
		t.Fatalf("after a torn ref: exit %d:\n%s", code, out)
	}
	if !strings.Contains(fleet.show(t, "overlays/dr/kustomization.yaml"), "newTag: 1.1.0") {
		t.Fatalf("checkout 1.1.0 did not reach dr after the torn ref:\n%s", out)
	}
}
