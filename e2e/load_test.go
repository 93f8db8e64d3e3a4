//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Load test shape: the 200 registry notifications a second for a
// minute, with 1,000 apps in ferry.yaml.
const (
	loadApps   = 1000
	loadActive = 10 // apps with a workload that get a real new version during the minute
	loadRate   = 200
	loadFor    = 60 * time.Second
)

// loadFleet is a ferry.yaml of loadApps apps and the overlays for the
// first loadActive of them (the others have no tags: their notifications
// are noise ferry must shrug off).
func loadFleet(t testing.TB) (cfg string, files map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\n")
	b.WriteString("git: {url: FLEET, branch: main, interval: 1h, author: {name: ferry, email: ferry@example.com}}\n")
	b.WriteString("registry: {interval: 1h, requestsPerSecond: 1000}\nwebhooks: {tokenFile: TOKENFILE}\napps:\n")
	for i := 0; i < loadApps; i++ {
		fmt.Fprintf(&b, "  - {name: app%04d, image: REGISTRY/load/app%04d, tags: {semver: \">=1.0.0\"}}\n", i, i)
	}
	b.WriteString(`environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`)
	files = map[string]string{}
	base := "resources:\n"
	var images strings.Builder
	for i := 0; i < loadActive; i++ {
		n := fmt.Sprintf("app%04d", i)
		base += "- " + n + ".yaml\n"
		files["base/"+n+".yaml"] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      containers:
      - {name: %[1]s, image: "load.example/%[1]s:0.0.0"}
`, n)
		fmt.Fprintf(&images, "- name: load.example/%s\n  newName: REGISTRY/load/%s\n  newTag: 0.0.0\n", n, n)
	}
	files["base/kustomization.yaml"] = base
	for _, env := range allEnvs {
		files["overlays/"+env+"/kustomization.yaml"] = "resources:\n- ../../base\nimages:\n" + images.String()
	}
	return b.String(), files
}

// notification is a distribution notification envelope with one event.
func notification(host, action, repo, tag, digest string) []byte {
	b, _ := json.Marshal(map[string]any{"events": []map[string]any{{
		"id": strconv.FormatInt(time.Now().UnixNano(), 36), "timestamp": time.Now().UTC(), "action": action,
		"target": map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "repository": repo, "tag": tag,
			"url": "http://" + host + "/v2/" + repo + "/manifests/" + digest,
		},
		"request": map[string]any{"host": host, "method": "PUT"},
	}}})
	return b
}

// rssKiB reads a live process's resident set (VmRSS) or peak (VmHWM).
func rssKiB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func mean(xs []int64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s int64
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

// TestLoadNotifications sends 200 registry notifications a second for one
// minute to a ferry configured with 1,000 apps, while the real registry
// pushes a new version of one active app every few seconds (and notifies
// ferry itself). Most notifications are noise: apps without tags, pulls,
// repositories ferry does not know, and resends of real pushes. No real
// push may be dropped or promoted twice, and memory must stay flat.
func TestLoadNotifications(t *testing.T) {
	port := freePort(t)
	token := "load-webhook-token"
	hook := fmt.Sprintf("http://127.0.0.1:%d/hooks/registry", port)
	reg := startRegistry(t, hook, token)
	cfg, files := loadFleet(t)
	tokenFile := writeFile(t, t.TempDir()+"/token", token+"\n")
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(cfg, "TOKENFILE", tokenFile), files)
	for i := 0; i < loadActive; i++ {
		reg.push(t, fmt.Sprintf("load/app%04d", i), "1.0.0")
	}
	p := startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 120*time.Second, "the first pass promoting every active app to dr", func() bool {
		return len(fleet.promotions(t)) >= loadActive*len(allEnvs)
	})
	pid := p.cmd.Process.Pid

	type push struct{ repo, tag, digest string }
	var (
		mu     sync.Mutex
		pushed []push
	)
	ctx, cancel := context.WithTimeout(context.Background(), loadFor)
	defer cancel()
	// The real pushes: one active app a step, each once, spread over the minute.
	pushDone := make(chan struct{})
	go func() {
		defer close(pushDone)
		step := loadFor / (loadActive + 1)
		for i := 0; i < loadActive; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(step):
			}
			repo := fmt.Sprintf("load/app%04d", i)
			d := reg.push(t, repo, "1.1.0")
			mu.Lock()
			pushed = append(pushed, push{repo, "1.1.0", d})
			mu.Unlock()
		}
	}()
	// Memory, once a second.
	var rss []int64
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				rss = append(rss, rssKiB(pid, "VmRSS"))
			}
		}
	}()
	// The flood: exactly loadRate*loadFor calls, paced, from a few workers.
	total := int(loadRate * loadFor / time.Second)
	lim := rate.NewLimiter(loadRate, 1)
	var sent, accepted, rejected, failed atomic.Int64
	var latMu sync.Mutex
	var lat []time.Duration
	client := &http.Client{Timeout: 10 * time.Second}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var body []byte
				switch i % 10 {
				case 0, 1, 2, 3, 4, 5: // an app without tags
					body = notification(reg.host, "push", fmt.Sprintf("load/app%04d", loadActive+i%(loadApps-loadActive)), fmt.Sprintf("1.0.%d", i), "sha256:"+strings.Repeat("0", 64))
				case 6: // a pull
					body = notification(reg.host, "pull", "load/app0000", "1.0.0", "sha256:"+strings.Repeat("1", 64))
				case 7, 8: // a repository no app names
					body = notification(reg.host, "push", fmt.Sprintf("other/repo%d", i%50), "1.0.0", "sha256:"+strings.Repeat("2", 64))
				default: // a resend of a real push (or of 1.0.0 before the first)
					mu.Lock()
					pu := push{"load/app0000", "1.0.0", "sha256:" + strings.Repeat("3", 64)}
					if len(pushed) > 0 {
						pu = pushed[i%len(pushed)]
					}
					mu.Unlock()
					body = notification(reg.host, "push", pu.repo, pu.tag, pu.digest)
				}
				req, _ := http.NewRequest("POST", hook, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
				start := time.Now()
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				latMu.Lock()
				lat = append(lat, d)
				latMu.Unlock()
				if resp.StatusCode/100 == 2 {
					accepted.Add(1)
				} else {
					rejected.Add(1)
				}
			}
		}()
	}
	start := time.Now()
	for i := 0; i < total; i++ {
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	took := time.Since(start)
	cancel()
	<-pushDone
	<-memDone

	// Every real push reaches dr, each env once.
	waitFor(t, 120*time.Second, "every pushed version in dr", func() bool {
		promos := fleet.promotions(t)
		for _, pu := range pushed {
			app := strings.TrimPrefix(pu.repo, "load/")
			if !slices.Contains(promos, app+" dr "+pu.tag) {
				return false
			}
		}
		return true
	})
	promos := fleet.promotions(t)
	seen := map[string]bool{}
	duplicated := 0
	for _, pr := range promos {
		if seen[pr] {
			duplicated++
		}
		seen[pr] = true
	}
	dropped := 0
	for _, pu := range pushed {
		for _, env := range allEnvs {
			if !seen[strings.TrimPrefix(pu.repo, "load/")+" "+env+" "+pu.tag] {
				dropped++
			}
		}
	}
	peak := rssKiB(pid, "VmHWM")
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	early, late := rss[min(10, len(rss)):min(20, len(rss))], rss[max(0, len(rss)-10):]
	t.Logf("load: apps=%d sent=%d accepted=%d rejected=%d failed=%d rate=%.1f/s p50=%s p99=%s max=%s pushes=%d promotions=%d dropped=%d duplicated=%d rss-10-20s=%.0fMiB rss-last-10s=%.0fMiB peak-rss=%dMiB took=%s",
		loadApps, sent.Load(), accepted.Load(), rejected.Load(), failed.Load(), float64(sent.Load())/took.Seconds(),
		pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), pct(1).Round(time.Microsecond),
		len(pushed), len(promos), dropped, duplicated, mean(early)/1024, mean(late)/1024, peak/1024, took.Round(time.Second))
	if int(sent.Load()) != total || accepted.Load() != int64(total) {
		t.Errorf("%d of %d notifications accepted (%d rejected, %d failed)", accepted.Load(), total, rejected.Load(), failed.Load())
	}
	if len(pushed) != loadActive || dropped != 0 || duplicated != 0 {
		t.Errorf("pushed %d versions: %d promotions dropped, %d duplicated\n%s", len(pushed), dropped, duplicated, fleet.git(t, "log", "--format=%s", "main"))
	}
	// Flat: the last ten seconds hold no more than half again the early
	// resident set (plus a little for the GC's pacing).
	if mean(late) > 1.5*mean(early)+16*1024 {
		t.Errorf("memory grew under load: %.0f MiB early, %.0f MiB at the end (samples %v KiB)", mean(early)/1024, mean(late)/1024, rss)
	}
}
