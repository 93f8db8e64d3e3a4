//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

const chainConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  branch: main
  author: {name: ferry, email: ferry@example.com}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
  - name: cart
    image: REGISTRY/shop/cart
    tags: {regex: '^main-(?P<version>[0-9]+)$', order: numerical}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

var allEnvs = []string{"dev", "qa", "ppd", "prod", "dr"}

func chain(app, version string) []string {
	var out []string
	for _, env := range allEnvs {
		out = append(out, app+" "+env+" "+version)
	}
	return out
}

// TestSemverChain: semver and regex/numerical tags move through every
// environment; the configuration is read from the fleet repo itself; a second
// pass writes nothing.
func TestSemverChain(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, chainConfig)
	for _, tag := range []string{"0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "latest"} {
		reg.push(t, "shop/checkout", tag)
	}
	checkout := reg.push(t, "shop/checkout", "1.1.0") // re-pushed: the newest digest wins
	var cart string
	for _, tag := range []string{"main-2", "main-10", "main-9", "feature-99"} {
		d := reg.push(t, "shop/cart", tag)
		if tag == "main-10" {
			cart = d
		}
	}

	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry run --once exited %d:\n%s", code, out)
	}
	got := fleet.promotions(t)
	slices.Sort(got)
	want := append(chain("checkout", "1.1.0"), chain("cart", "main-10")...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("promotions:\n got %q\nwant %q", got, want)
	}
	for _, env := range allEnvs {
		k := fleet.show(t, "overlays/"+env+"/kustomization.yaml")
		for _, wantLine := range []string{"newTag: 1.1.0", "digest: " + checkout, "newTag: main-10", "digest: " + cart} {
			if !strings.Contains(k, wantLine) {
				t.Errorf("overlays/%s lacks %q:\n%s", env, wantLine, k)
			}
		}
	}
	msg := fleet.git(t, "log", "-1", "--format=%B", "--grep=promote checkout 1.1.0 to qa", "main")
	for _, trailer := range []string{"Ferry-App: checkout", "Ferry-Env: qa", "Ferry-From: dev", "Ferry-Version: 1.1.0", "Ferry-Digest: " + checkout, "Ferry-Decision: allow"} {
		if !strings.Contains(msg, trailer) {
			t.Errorf("qa promotion commit lacks %q:\n%s", trailer, msg)
		}
	}
	// Only the images lines change: comments and other entries stay as they were.
	stat := fleet.git(t, "log", "-1", "--format=", "--numstat", "--grep=promote checkout 1.1.0 to dev", "main")
	if !strings.HasPrefix(strings.TrimSpace(stat), "2\t1\t") {
		t.Errorf("dev bump changed more than the tag and digest lines: %q", stat)
	}

	head := fleet.git(t, "rev-parse", "main")
	out, code = runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 || !strings.Contains(out, "nothing to promote") {
		t.Fatalf("second pass: exit %d:\n%s", code, out)
	}
	if after := fleet.git(t, "rev-parse", "main"); after != head {
		t.Fatalf("a pass with nothing new wrote %s", after)
	}
}

// TestMovingTagDigest: a moving tag whose digest changes is a new candidate.
func TestMovingTagDigest(t *testing.T) {
	reg := startRegistry(t, "", "")
	cfg := strings.Replace(chainConfig, `tags: {semver: ">=1.0.0"}`, `tags: {digest: latest}`, 1)
	fleet := startFleet(t, reg.host, cfg)
	work := t.TempDir()
	first := reg.push(t, "shop/checkout", "latest")
	if out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work); code == 0 {
		t.Fatalf("cart has no tags: want a non-zero exit, got 0:\n%s", out)
	}
	second := reg.push(t, "shop/checkout", "latest")
	runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work)
	dev := fleet.git(t, "log", "--format=%(trailers:key=Ferry-Digest,valueonly)", "--grep=to dev$", "main")
	if !strings.Contains(dev, first) || !strings.Contains(dev, second) {
		t.Fatalf("dev promotions should carry both digests %s and %s:\n%s", first, second, dev)
	}
	if k := fleet.show(t, "overlays/prod/kustomization.yaml"); !strings.Contains(k, second) {
		t.Fatalf("prod does not run the newest digest:\n%s", k)
	}
}

// TestRegistryNotification: the real registry's push notification reaches
// ferry's webhook and the promotion is pushed without waiting for a poll.
func TestRegistryNotification(t *testing.T) {
	port := freePort(t)
	token := "s3cret-webhook-token"
	reg := startRegistry(t, fmt.Sprintf("http://127.0.0.1:%d/hooks/registry", port), token)
	cfg := chainConfig + "registry: {interval: 1h}\nwebhooks: {tokenFile: TOKENFILE}\n"
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "token"), token+"\n")
	fleet := startFleet(t, reg.host, strings.ReplaceAll(cfg, "TOKENFILE", tokenFile))
	reg.push(t, "shop/cart", "main-1")
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 30*time.Second, "first pass", func() bool { return len(fleet.promotions(t)) >= 5 })

	digest := reg.push(t, "shop/checkout", "1.0.0")
	waitFor(t, 30*time.Second, "checkout 1.0.0 promoted through every env", func() bool {
		return len(fleet.promotions(t)) >= 10
	})
	if k := fleet.show(t, "overlays/dr/kustomization.yaml"); !strings.Contains(k, digest) {
		t.Fatalf("dr does not mirror checkout %s:\n%s", digest, k)
	}
	// The pass logs once its last push is in: the test may see the push
	// in git first (CI saw it a millisecond before the line was written).
	waitFor(t, 10*time.Second, "the log line of the pass the notification triggered", func() bool {
		return strings.Contains(p.out.String(), `reason="registry push" apps=1 promotions=5`)
	})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), `ferry_promotions_total{app="checkout",env="dr",result="pushed"} 1`) {
			t.Errorf("/metrics lacks the dr promotion:\n%s", body)
		}
	}
	// An unauthenticated call is refused and changes nothing.
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/hooks/registry", port), "application/json", strings.NewReader(`{"events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated webhook: status %d, want 401", resp.StatusCode)
	}
}

// TestHumanCommitRacesFerry: a person pushes to the same overlay while ferry
// pushes; ferry fetches, re-applies its bump on the new head, and neither
// change is lost. No force push: the person's commit stays an ancestor.
func TestHumanCommitRacesFerry(t *testing.T) {
	reg := startRegistry(t, "", "")
	var once sync.Once
	var fleet *fleetRepo
	raced := make(chan struct{})
	hook := func(r *http.Request) bool {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
			once.Do(func() {
				fleet.humanCommit(t, "human: label dev", func(dir string) {
					p := filepath.Join(dir, "overlays/dev/kustomization.yaml")
					b, _ := os.ReadFile(p)
					os.WriteFile(p, append(b, []byte("# reviewed by a human\n")...), 0o644)
				})
				close(raced)
			})
		}
		return true
	}
	fleet = startFleet(t, reg.host, chainConfig, gitserver.WithHook(hook))
	reg.push(t, "shop/checkout", "1.0.0")
	reg.push(t, "shop/cart", "main-1")
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	<-raced
	if !strings.Contains(out, "the branch moved") {
		t.Errorf("ferry did not meet the moved remote:\n%s", out)
	}
	human := strings.TrimSpace(fleet.git(t, "log", "--format=%H", "--grep=human: label dev", "main"))
	if human == "" {
		t.Fatal("the human commit is lost")
	}
	fleet.git(t, "merge-base", "--is-ancestor", human, "main")
	dev := fleet.show(t, "overlays/dev/kustomization.yaml")
	if !strings.Contains(dev, "# reviewed by a human") || !strings.Contains(dev, "newTag: 1.0.0") {
		t.Fatalf("dev overlay lost one of the two changes:\n%s", dev)
	}
	got := fleet.promotions(t)
	if len(got) != 10 {
		t.Fatalf("want 10 promotions (2 apps x 5 envs), got %d: %q", len(got), got)
	}
}

// TestKillMidPromotion: ferry is killed with SIGKILL while its push is in
// flight; after a restart nothing is lost and nothing is promoted twice.
func TestKillMidPromotion(t *testing.T) {
	for _, land := range []bool{false, true} {
		t.Run(fmt.Sprintf("push-lands-%v", land), func(t *testing.T) {
			reg := startRegistry(t, "", "")
			entered := make(chan struct{})
			release := make(chan bool)
			var once sync.Once
			hook := func(r *http.Request) bool {
				if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/git-receive-pack") {
					return true
				}
				block := false
				once.Do(func() { block = true })
				if !block {
					return true
				}
				close(entered)
				return <-release
			}
			fleet := startFleet(t, reg.host, chainConfig, gitserver.WithHook(hook))
			reg.push(t, "shop/checkout", "1.0.0")
			reg.push(t, "shop/cart", "main-1")
			work := t.TempDir()
			p := startFerry(t, nil, "run", "--once", "--config", fleet.url, "--work-dir", work)
			select {
			case <-entered:
			case <-time.After(60 * time.Second):
				t.Fatalf("ferry never pushed:\n%s", p.out.String())
			}
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			release <- land

			out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", work)
			if code != 0 {
				t.Fatalf("restart: exit %d:\n%s", code, out)
			}
			got := fleet.promotions(t)
			slices.Sort(got)
			want := append(chain("checkout", "1.0.0"), chain("cart", "main-1")...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("after kill and restart, promotions:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestBadConfig: a misspelled field is refused with file, line and column,
// and nothing is written.
func TestBadConfig(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, "")
	reg.push(t, "shop/checkout", "1.0.0")
	cfg := strings.Replace(fleet.expand(chainConfig, reg.host), "tags: {semver:", "tagz: {semver:", 1)
	path := writeFile(t, filepath.Join(t.TempDir(), "ferry.yaml"), cfg)
	head := fleet.git(t, "rev-parse", "main")
	out, code := runFerry(t, "run", "--once", "--config", path, "--work-dir", t.TempDir())
	if code == 0 {
		t.Fatalf("a bad config ran:\n%s", out)
	}
	if !strings.Contains(out, path+":10:") || !strings.Contains(out, "tagz") {
		t.Fatalf("error does not name file:line and the field:\n%s", out)
	}
	if after := fleet.git(t, "rev-parse", "main"); after != head {
		t.Fatal("a bad config wrote to the fleet repo")
	}
}

// TestBrokenOverlay: an overlay that does not build is never committed, the
// error names it, and the other environments still move.
func TestBrokenOverlay(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, chainConfig)
	fleet.humanCommit(t, "human: break qa", func(dir string) {
		p := filepath.Join(dir, "overlays/qa/kustomization.yaml")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), "../../base", "../../no-such-base", 1)), 0o644)
	})
	reg.push(t, "shop/checkout", "1.0.0")
	reg.push(t, "shop/cart", "main-1")
	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code == 0 {
		t.Fatalf("want a non-zero exit for the broken overlay:\n%s", out)
	}
	if !strings.Contains(out, "overlays/qa") || !strings.Contains(out, "does not build") {
		t.Fatalf("the error does not name the overlay:\n%s", out)
	}
	got := fleet.promotions(t)
	slices.Sort(got)
	want := []string{"cart dev main-1", "checkout dev 1.0.0"}
	if !slices.Equal(got, want) {
		t.Fatalf("promotions: got %q, want %q", got, want)
	}
}

// TestConfigIsACommit: with --config naming the fleet repo, a commit to
// ferry.yaml changes what ferry does; a broken ferry.yaml is refused and the
// previous configuration keeps running.
func TestConfigIsACommit(t *testing.T) {
	reg := startRegistry(t, "", "")
	cfg := strings.Replace(chainConfig, `tags: {semver: ">=1.0.0"}`, `tags: {semver: ">=1.0.0 <2.0.0"}`, 1) +
		"git:\n  interval: 1s\n"
	cfg = strings.Replace(cfg, "git:\n  url: FLEET\n  branch: main\n  author: {name: ferry, email: ferry@example.com}\n", "", 1)
	cfg = strings.Replace(cfg, "git:\n  interval: 1s\n", "git:\n  url: FLEET\n  branch: main\n  interval: 1s\n", 1)
	fleet := startFleet(t, reg.host, cfg)
	reg.push(t, "shop/checkout", "1.0.0")
	reg.push(t, "shop/checkout", "2.0.0")
	reg.push(t, "shop/cart", "main-1")
	p := startFerry(t, []string{"FERRY_WEBHOOK_TOKEN=t"}, "run", "--config", fleet.url, "--work-dir", t.TempDir())
	waitFor(t, 30*time.Second, "checkout 1.0.0 in dr", func() bool {
		return strings.Contains(fleet.show(t, "overlays/dr/kustomization.yaml"), "newTag: 1.0.0")
	})

	fleet.humanCommit(t, "human: break ferry.yaml", func(dir string) {
		os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nbogus: true\n"), 0o644)
	})
	waitFor(t, 30*time.Second, "the broken ferry.yaml refused", func() bool {
		return strings.Contains(p.out.String(), "new ferry.yaml refused")
	})
	fleet.humanCommit(t, "human: allow 2.x", func(dir string) {
		os.WriteFile(filepath.Join(dir, "ferry.yaml"), []byte(fleet.expand(strings.Replace(cfg, " <2.0.0", "", 1), reg.host)), 0o644)
	})
	waitFor(t, 30*time.Second, "checkout 2.0.0 in dr after the config commit", func() bool {
		return strings.Contains(fleet.show(t, "overlays/dr/kustomization.yaml"), "newTag: 2.0.0")
	})
	if !strings.Contains(p.out.String(), "ferry.yaml changed; reloaded") {
		t.Errorf("no reload logged:\n%s", p.out.String())
	}
}
