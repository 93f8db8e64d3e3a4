//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
	"github.com/ferry-dev/ferry/internal/syncbuf"
)

// The sharded scale scenario: 10,000 apps x 5 environments, 3 replicas of
// `ferry run --shards 3` on the real kube-apiserver, one killed.
const (
	scaleApps     = 10000
	scaleShards   = 3
	scaleLease    = 6 * time.Second
	scaleInterval = "10s"
	// The guarantee under test: a killed replica's apps have had their next
	// pass within the lease duration and this.
	takeoverSlack = 5 * time.Second
)

// shardScale is what one run of the scenario measured.
type shardScale struct {
	setup     time.Duration        // registry filled and fleet repo seeded
	firstPass map[string]firstPass // by replica/shard: every app of the shard decided, since the replica took it
	takeover  time.Duration        // kill -> every app of the dead replica's shards decided by a survivor
	detect    time.Duration        // kill -> its last shard Lease taken over
	taken     map[string]firstPass // the same as firstPass for the dead replica's shards, by survivor/shard
	killed    string               // the replica killed
	shards    []int                // its shards
	perShard  [scaleShards]int     // apps per shard, from kube.ShardOf
	samples   int                  // /metrics samples checked
}

// firstPass is when a replica had decided every app of a shard it took.
type firstPass struct {
	at    time.Time
	shard int
	apps  int
	took  time.Duration // since it took the shard
}

func (f firstPass) String() string { return fmt.Sprintf("%d apps in %s", f.apps, f.took) }

// scaleReplica is one `ferry run --shards` process.
type scaleReplica struct {
	name   string
	listen string
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	done   chan struct{}
}

// TestKubeShardsScale (issue 16): 3 replicas share 3 shards of 10,000 apps.
// At every sample of their /metrics each shard, and so each app, is run by
// exactly one replica, and their logs show no shard run by two replicas in
// overlapping time; a replica killed with SIGKILL has its shards taken over
// and all their apps passed by a survivor within the lease duration + 5 s.
func TestKubeShardsScale(t *testing.T) {
	s := runShardScale(t)
	t.Logf("setup %s; first passes %v; %s (shards %v) killed: its shards taken over %s and their apps all decided %s after the kill (bound: lease %s + %s = %s); %d /metrics samples checked",
		s.setup.Round(time.Millisecond), s.firstPass, s.killed, s.shards, s.detect.Round(time.Millisecond), s.takeover.Round(time.Millisecond), scaleLease, takeoverSlack, scaleLease+takeoverSlack, s.samples)
	t.Logf("survivors' first passes with the taken shards: %v", s.taken)
}

// BenchmarkShardTakeover reports the scenario's takeover time beside its
// bound (the lease duration + 5 s), and each replica's first pass.
func BenchmarkShardTakeover(b *testing.B) {
	var takeovers, detects, firsts []time.Duration
	var setup time.Duration
	for i := 0; i < b.N; i++ {
		s := runShardScale(b)
		takeovers = append(takeovers, s.takeover)
		detects = append(detects, s.detect)
		for _, f := range s.firstPass {
			firsts = append(firsts, f.took)
		}
		setup = max(setup, s.setup)
	}
	b.ReportMetric(pct(takeovers, 50), "takeover-ms")
	b.ReportMetric(pct(detects, 50), "lease-taken-ms")
	b.ReportMetric(float64((scaleLease + takeoverSlack).Milliseconds()), "bound-ms")
	b.ReportMetric(pct(firsts, 50), "first-pass-ms")
	b.ReportMetric(float64(setup.Milliseconds()), "setup-ms")
}

func runShardScale(tb testing.TB) *shardScale {
	s := &shardScale{firstPass: map[string]firstPass{}, taken: map[string]firstPass{}}
	for i := range scaleApps {
		s.perShard[kube.ShardOf(scaleAppName(i), scaleShards)]++
	}
	start := time.Now()
	fleetURL := scaleFleet(tb)
	s.setup = time.Since(start)

	c := kubetest.Start(tb, kubetest.Binary(tb))
	c.EnsureNamespace(tb, "ferry")
	var replicas []*scaleReplica
	for _, n := range []string{"ferry-a", "ferry-b", "ferry-c"} {
		replicas = append(replicas, startScaleReplica(tb, n, "run", "--config", fleetURL, "--work-dir", tb.TempDir(),
			"--shards", strconv.Itoa(scaleShards), "--kubeconfig", c.Kubeconfig, "--lease-namespace", "ferry",
			"--lease-duration", scaleLease.String()))
	}

	// check samples every live replica's /metrics: no shard run by two, and
	// (complete) every shard run by one, with every app of it decided.
	check := func(live []*scaleReplica, complete bool) (owner map[int]string, done int) {
		tb.Helper()
		s.samples++
		owner = map[int]string{}
		for _, r := range live {
			apps, passed := r.shardMetrics(tb)
			for sh, n := range apps {
				if prev, ok := owner[sh]; ok {
					tb.Fatalf("shard %d is run by %s and %s at once", sh, prev, r.name)
				}
				owner[sh] = r.name
				if n == float64(s.perShard[sh]) && passed[sh] == n {
					done++
				} else if complete {
					tb.Fatalf("%s runs shard %d with %v apps, %v of them decided; want %d", r.name, sh, n, passed[sh], s.perShard[sh])
				}
			}
		}
		if complete && len(owner) != scaleShards {
			tb.Fatalf("shards run: %v; want all %d", owner, scaleShards)
		}
		return owner, done
	}
	waitFor(tb, time.Minute, "every replica serving /metrics", func() bool {
		for _, r := range replicas {
			resp, err := http.Get("http://" + r.listen + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
		}
		return true
	})
	// The members see each other within a heartbeat; shards move while they
	// do. Samples are checked meanwhile too.
	for end := time.Now().Add(scaleLease); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		check(replicas, false)
	}
	waitFor(tb, 5*time.Minute, "every shard run by one replica and its apps decided", func() bool {
		_, done := check(replicas, false)
		return done == scaleShards
	})
	for _, r := range replicas {
		for _, f := range r.shardsPassed(tb) {
			s.firstPass[r.name+"/"+strconv.Itoa(f.shard)] = f // the last of each shard: the current run's
		}
	}
	// Steady state: samples over more than an interval.
	for range 12 {
		check(replicas, true)
		time.Sleep(time.Second)
	}

	owner, _ := check(replicas, true)
	var victim *scaleReplica
	var survivors []*scaleReplica
	for _, r := range replicas {
		if victim == nil && slices.Contains(mapValues(owner), r.name) {
			victim = r
			continue
		}
		survivors = append(survivors, r)
	}
	for sh, n := range owner {
		if n == victim.name {
			s.shards = append(s.shards, sh)
		}
	}
	slices.Sort(s.shards)
	s.killed = victim.name
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		tb.Fatal(err)
	}
	killed := time.Now()
	<-victim.done

	// Taken over: each of the dead replica's shards run by a survivor that
	// logged every app of it decided, after the kill.
	takenAt := map[int]time.Time{}
	polls := 0
	waitFor(tb, scaleLease+3*time.Minute, "the killed replica's shards passed by survivors", func() bool {
		// The logs every poll, /metrics every 20th: scraping takes CPU
		// from the survivors, whose time is what is measured.
		if polls++; polls%20 == 0 {
			check(survivors, false)
		}
		for _, r := range survivors {
			for _, f := range r.shardsPassed(tb) {
				if f.at.After(killed) && slices.Contains(s.shards, f.shard) {
					takenAt[f.shard] = f.at
					s.taken[r.name+"/"+strconv.Itoa(f.shard)] = f
				}
			}
		}
		return len(takenAt) == len(s.shards)
	})
	for _, at := range takenAt {
		s.takeover = max(s.takeover, at.Sub(killed))
	}
	for _, r := range survivors {
		for _, m := range tookOverLine.FindAllStringSubmatch(r.out.String(), -1) {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil && at.After(killed) {
				s.detect = max(s.detect, at.Sub(killed))
			}
		}
	}
	if s.detect == 0 {
		tb.Errorf("no survivor logged taking a stale shard Lease over")
	}
	// A survivor that took a shard runs its own again from a new start:
	// once its apps are decided again, every shard is run by one survivor.
	waitFor(tb, 3*time.Minute, "every shard run by one survivor and its apps decided", func() bool {
		_, done := check(survivors, false)
		return done == scaleShards
	})
	for range 3 {
		check(survivors, true)
		time.Sleep(time.Second)
	}
	if bound := scaleLease + takeoverSlack; s.takeover > bound {
		tb.Errorf("the killed replica's apps were all decided %s after the kill: over the lease duration + %s (%s)", s.takeover, takeoverSlack, bound)
	}
	checkShardIntervals(tb, replicas, victim, killed)
	return s
}

func mapValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func scaleAppName(i int) string { return fmt.Sprintf("app%05d", i) }

// scaleFleet fills an in-process registry (one tag per repository, its
// manifests put through the handler) and seeds the fleet repo, served by
// git http-backend, with every app up to date in every environment.
func scaleFleet(tb testing.TB) string {
	tb.Helper()
	handler := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	host := ln.Addr().String()

	img, err := random.Image(256, 1)
	if err != nil {
		tb.Fatal(err)
	}
	d, _ := img.Digest()
	// The blobs once, over HTTP; the other repositories get the manifest
	// only (the in-memory registry keeps blobs by digest, for every one).
	first, _ := name.NewTag(host + "/fleet/" + scaleAppName(0) + ":1.0.0")
	if err := remote.Write(first, img); err != nil {
		tb.Fatal(err)
	}
	manifest, _ := img.RawManifest()
	mt, _ := img.MediaType()
	var cfg, images strings.Builder
	fmt.Fprintf(&cfg, "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: FLEET, branch: main, interval: %s, author: {name: ferry, email: ferry@example.com}}\n", scaleInterval)
	// patience: a survivor's first pass over a shard it took waits for the
	// registry's answers (cold: a ping per repository) rather than going on
	// without them and deciding those apps in a pass after it.
	fmt.Fprintf(&cfg, "registry: {interval: %s, patience: 10s, requestsPerSecond: 100000}\napps:\n", scaleInterval)
	for i := range scaleApps {
		app := scaleAppName(i)
		if i > 0 {
			req := httptest.NewRequest(http.MethodPut, "/v2/fleet/"+app+"/manifests/1.0.0", bytes.NewReader(manifest))
			req.Header.Set("Content-Type", string(mt))
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				tb.Fatalf("put the manifest of %s: %d %s", app, rec.Code, rec.Body)
			}
		}
		repo := host + "/fleet/" + app
		fmt.Fprintf(&cfg, "  - {name: %s, image: %s, tags: {semver: \">=1.0.0\"}}\n", app, repo)
		fmt.Fprintf(&images, "  - name: %s\n    newTag: 1.0.0\n    digest: %s\n", repo, d)
	}
	cfg.WriteString(scaleEnvironments)
	root := tb.TempDir()
	gs, err := gitserver.Start(root)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(gs.Close)
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		tb.Fatal(err)
	}
	url := gs.RepoURL("fleet.git")
	files := map[string][]byte{"base/kustomization.yaml": []byte("resources: []\n"),
		"ferry.yaml": []byte(strings.ReplaceAll(cfg.String(), "FLEET", url))}
	for _, env := range allEnvs {
		files["overlays/"+env+"/kustomization.yaml"] = []byte("resources:\n  - ../../base\nimages:\n" + images.String())
	}
	if err := gitserver.Seed(bare, files, "seed 10,000 apps"); err != nil {
		tb.Fatal(err)
	}
	return url
}

func startScaleReplica(tb testing.TB, podName string, args ...string) *scaleReplica {
	tb.Helper()
	r := &scaleReplica{name: podName, listen: fmt.Sprintf("127.0.0.1:%d", freePort(tb)), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(ferryBin, append(args, "--listen", r.listen)...)
	r.cmd.Env = append(r.cmd.Environ(), "POD_NAME="+podName)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	tb.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
		if tb.Failed() {
			// 10,000 apps make long logs: the whole in a file, the end here.
			out := r.out.String()
			path := filepath.Join(os.TempDir(), "ferry-shards-"+r.name+".log")
			_ = os.WriteFile(path, []byte(out), 0o600)
			if len(out) > 8000 {
				out = "...\n" + out[len(out)-8000:]
			}
			tb.Logf("%s output (all of it in %s):\n%s", r.name, path, out)
		}
	})
	return r
}

var shardMetricLine = regexp.MustCompile(`^(ferry_shard_apps|ferry_shard_apps_passed)\{shard="(\d+)"\} (\S+)$`)

// shardMetrics scrapes the replica's per-shard gauges: the apps of each
// shard it runs, and how many of them a pass decided. A replica that does
// not answer (still starting) has none.
func (r *scaleReplica) shardMetrics(tb testing.TB) (apps, passed map[int]float64) {
	apps, passed = map[int]float64{}, map[int]float64{}
	resp, err := http.Get("http://" + r.listen + "/metrics")
	if err != nil {
		return apps, passed
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := shardMetricLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		sh, _ := strconv.Atoi(m[2])
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			tb.Fatalf("%s: %q: %v", r.name, sc.Text(), err)
		}
		if m[1] == "ferry_shard_apps" {
			apps[sh] = v
		} else {
			passed[sh] = v
		}
	}
	return apps, passed
}

var (
	shardPassedLine = regexp.MustCompile(`(?m)^time=(\S+) .*msg="every app of the shard passed" shard=(\d+) apps=(\d+) since_start=(\S+)`)
	tookOverLine    = regexp.MustCompile(`(?m)^time=(\S+) .*msg="took over a shard Lease its holder stopped renewing"`)
	shardRunLine    = regexp.MustCompile(`^time=(\S+) .*msg="(running|stopped) the apps of shards" shards="?\[([0-9 ]+)\]"?`)
)

// shardsPassed are the moments the replica's log says every app of a
// shard it took had been decided, oldest first.
func (r *scaleReplica) shardsPassed(tb testing.TB) []firstPass {
	var out []firstPass
	for _, m := range shardPassedLine.FindAllStringSubmatch(r.out.String(), -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			tb.Fatalf("%s: time %q: %v", r.name, m[1], err)
		}
		sh, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		d, err := time.ParseDuration(m[4])
		if err != nil {
			tb.Fatalf("%s: since_start %q: %v", r.name, m[4], err)
		}
		out = append(out, firstPass{at: at, shard: sh, apps: n, took: d})
	}
	return out
}

// checkShardIntervals reads when each replica started and stopped running
// each shard's apps from the logs (the killed one stopped at the kill) and
// fails on two replicas running one shard in overlapping time.
func checkShardIntervals(tb testing.TB, replicas []*scaleReplica, killedOne *scaleReplica, killedAt time.Time) {
	tb.Helper()
	type span struct {
		who        string
		start, end time.Time
	}
	spans := map[int][]span{}
	for _, r := range replicas {
		open := map[int]time.Time{}
		for _, line := range strings.Split(r.out.String(), "\n") {
			m := shardRunLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				tb.Fatalf("%s: time %q: %v", r.name, m[1], err)
			}
			for _, f := range strings.Fields(m[3]) {
				sh, _ := strconv.Atoi(f)
				if m[2] == "running" {
					open[sh] = at
				} else {
					spans[sh] = append(spans[sh], span{r.name, open[sh], at})
					delete(open, sh)
				}
			}
		}
		end := time.Now()
		if r == killedOne {
			end = killedAt
		}
		for sh, at := range open {
			spans[sh] = append(spans[sh], span{r.name, at, end})
		}
	}
	for sh, ss := range spans {
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.who != b.who && a.start.Before(b.end) && b.start.Before(a.end) {
					tb.Errorf("shard %d run by %s from %s to %s and by %s from %s to %s", sh,
						a.who, a.start.Format(time.StampMilli), a.end.Format(time.StampMilli), b.who, b.start.Format(time.StampMilli), b.end.Format(time.StampMilli))
				}
			}
		}
	}
	if len(spans) != scaleShards {
		tb.Errorf("the logs show %d shards run, want %d", len(spans), scaleShards)
	}
}
