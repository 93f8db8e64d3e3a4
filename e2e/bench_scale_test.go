//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// BenchmarkNoopPass runs `ferry run --once` as a process over a fleet of N
// apps x 5 environments where everything is up to date, each app's
// repository holding 100 tags (scaleTags: releases, pre-releases, noise),
// and reports its wall time, peak RSS and the cost per app, for 1,000 and
// 10,000 apps in one run: the cost per app should not grow with the fleet.
// scaleEnvironments is the chain of the scale fixtures: dev..prod, and dr
// mirroring prod.
const scaleEnvironments = `environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

func BenchmarkNoopPass(b *testing.B) {
	for _, apps := range []int{1000, 10000} {
		b.Run(fmt.Sprint(apps), func(b *testing.B) { benchNoopPass(b, apps) })
	}
}

// scaleTags is one repository's tag list as teams have them: 80 semver
// releases 0.0.0..1.9.3, pre-releases of the next minor (newer than every
// release, refused by ">=1.0.0"), and noise tags. The newest release the
// policy takes is scaleNewest.
func scaleTags() []string {
	var tags []string
	for major := 0; major <= 1; major++ {
		for minor := 0; minor <= 9; minor++ {
			for patch := 0; patch <= 3; patch++ {
				tags = append(tags, fmt.Sprintf("%d.%d.%d", major, minor, patch))
			}
		}
	}
	for rc := 1; rc <= 4; rc++ {
		tags = append(tags, fmt.Sprintf("1.10.0-rc.%d", rc), fmt.Sprintf("2.0.0-beta.%d", rc))
	}
	tags = append(tags, "latest", "main", "develop", "stable")
	for i := 0; i < 4; i++ {
		tags = append(tags, fmt.Sprintf("sha-%07x", 0xabc1234+i*7919), fmt.Sprintf("build-%d", 123+i))
	}
	return tags
}

const scaleNewest = "1.9.3"

// scaleRegistry fills go-containerregistry's in-process registry with
// apps repositories of scaleTags each (one manifest PUT per tag, the same
// bytes, straight into its handler: a million tags over HTTP would take
// minutes), then serves it on 127.0.0.1. It returns the host and the
// manifest's digest.
func scaleRegistry(b *testing.B, apps int) (string, string, func()) {
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	// An image manifest whose config and layer blobs are never pulled: ferry
	// lists tags and resolves digests only.
	mf := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},` +
		`"layers":[]}`)
	digest, _, err := v1.SHA256(bytes.NewReader(mf))
	if err != nil {
		b.Fatal(err)
	}
	tags := scaleTags()
	for i := 0; i < apps; i++ {
		for _, tag := range tags {
			req := httptest.NewRequest(http.MethodPut, fmt.Sprintf("/v2/fleet/app%05d/manifests/%s", i, tag), bytes.NewReader(mf))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("put app%05d:%s: %d %s", i, tag, rec.Code, rec.Body)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return ln.Addr().String(), digest.String(), func() { srv.Close() }
}

func benchNoopPass(b *testing.B, apps int) {
	host, digest, stop := scaleRegistry(b, apps)
	defer stop()
	var cfg, images strings.Builder
	// A private registry's pace: the default 50 requests per second is for
	// shared public ones (Docker Hub), and would make this a bench of waits.
	fmt.Fprintf(&cfg, "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: FLEET}\nregistry: {requestsPerSecond: 100000}\napps:\n")
	for i := 0; i < apps; i++ {
		repo := fmt.Sprintf("%s/fleet/app%05d", host, i)
		fmt.Fprintf(&cfg, "  - {name: app%05d, image: %s, tags: {semver: \">=1.0.0\"}}\n", i, repo)
		fmt.Fprintf(&images, "  - name: %s\n    newTag: %s\n    digest: %s\n", repo, scaleNewest, digest)
	}
	cfg.WriteString(scaleEnvironments)
	root := b.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{"base/kustomization.yaml": []byte("resources: []\n")}
	for _, env := range allEnvs {
		files["overlays/"+env+"/kustomization.yaml"] = []byte("resources:\n  - ../../base\nimages:\n" + images.String())
	}
	files["ferry.yaml"] = []byte(strings.ReplaceAll(cfg.String(), "FLEET", "file://"+bare))
	if err := gitserver.Seed(bare, files, fmt.Sprintf("seed %d apps", apps)); err != nil {
		b.Fatal(err)
	}
	work := filepath.Join(root, "clone")
	run := func() (time.Duration, int64) {
		start := time.Now()
		cmd := exec.Command(ferryBin, "run", "--once", "--config", "file://"+bare, "--work-dir", work)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := watchPeak(cmd.Process.Pid)
		err := cmd.Wait()
		wall := time.Since(start)
		if err != nil || !strings.Contains(out.String(), "nothing to promote") {
			b.Fatalf("ferry: %v\n%.4000s", err, out.String())
		}
		if kib := peak(); kib > 0 {
			return wall, kib
		}
		return wall, maxRSS(cmd.ProcessState)
	}
	run() // clone once, as a running agent has
	var walls []time.Duration
	var peak int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, rss := run()
		walls = append(walls, w)
		peak = max(peak, rss)
	}
	b.StopTimer()
	wall := pct(walls, 50)
	b.ReportMetric(wall, "wall-ms")
	b.ReportMetric(pct(walls, 95), "p95-wall-ms")
	b.ReportMetric(float64(peak)/1024, "peak-rss-MiB")
	b.ReportMetric(wall*1000/float64(apps), "us-per-app")

	// A running agent's later passes over the same fleet: what it asks the
	// registry again, and what it remembers (steps up to date, overlays
	// parsed, the registry's API check).
	ctx := context.Background()
	pipeline, err := config.Parse("ferry.yaml", files["ferry.yaml"])
	if err != nil {
		b.Fatal(err)
	}
	repo, err := fleet.Open(ctx, fleet.Options{URL: "file://" + bare, Branch: "main", Dir: filepath.Join(root, "agent"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: pipeline, Fleet: repo, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 100000})})
	if err != nil {
		b.Fatal(err)
	}
	pass := func() time.Duration {
		start := time.Now()
		res, err := a.Reconcile(ctx, agent.Scope{All: true, Wait: true, Reason: "bench"})
		if err != nil || len(res.Promotions) > 0 || len(res.Errors) > 0 {
			b.Fatalf("pass: %v %+v", err, res)
		}
		return time.Since(start)
	}
	pass() // the first, as at start
	var passes []time.Duration
	for range max(b.N, 3) {
		passes = append(passes, pass())
	}
	b.ReportMetric(pct(passes, 50), "running-pass-ms")
	b.ReportMetric(pct(passes, 50)*1000/float64(apps), "running-us-per-app")
}

// watchPeak samples the process's peak resident set (VmHWM in
// /proc/PID/status) every few milliseconds until the returned function is
// called, after the process ended, and returns the last sample in KiB (0
// where /proc is not there). The rusage of a process this test started is
// no use here: Go starts it with vfork, and Linux counts the parent's
// resident set (this process, with a million manifests in its registry)
// in the child's peak at exec.
func watchPeak(pid int) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			if kib := vmHWM(pid); kib > peak.Load() {
				peak.Store(kib)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kib
		}
	}
	return 0
}
