package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/internal/syncbuf"
	"github.com/ferry-dev/ferry/overlays"
)

// runDemoCmd runs `ferry demo args...` with TMPDIR set to tmp.
func runDemoCmd(ctx context.Context, t *testing.T, tmp string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("TMPDIR", tmp)
	root := rootCmd()
	out := &syncbuf.Buffer{}
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(append([]string{"demo"}, args...))
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func demoDirs(t *testing.T, tmp string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tmp, "ferry-demo-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestDemoStory runs `ferry demo --keep` and reads the story back from the
// fleet repo it kept: canary steps, an abort with its rejection, a rollback
// an alert caused, and ppd waiting on a pull request whose body is the gate
// report.
func TestDemoStory(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 20 s")
	}
	tmp := t.TempDir()
	out, err := runDemoCmd(context.Background(), t, tmp, "--keep")
	t.Logf("ferry demo --keep:\n%s", out)
	if err != nil {
		t.Fatalf("ferry demo --keep: %v", err)
	}
	dirs := demoDirs(t, tmp)
	if len(dirs) != 1 {
		t.Fatalf("--keep left %v in TMPDIR, want one ferry-demo-* directory", dirs)
	}
	dir := dirs[0]
	if !strings.Contains(out, "kept "+dir) {
		t.Errorf("the output does not print the kept directory %s", dir)
	}
	if !strings.Contains(out, "git -C "+filepath.Join(dir, "fleet.git")+" log --notes=ferry") {
		t.Errorf("the output does not give the git log command to replay the story")
	}
	if m := regexp.MustCompile(`demo finished in ([0-9.]+)s`).FindStringSubmatch(out); m == nil {
		t.Errorf("the output does not print the wall time")
	} else {
		t.Logf("the demo took %ss", m[1])
	}

	repo, err := git.PlainOpen(filepath.Join(dir, "fleet.git"))
	if err != nil {
		t.Fatal(err)
	}
	records := demoRecords(t, repo, "main")

	// A good release walks every canary step, then is promoted to prod and dr.
	// (Commit times are whole seconds: ordered by step, not by time.)
	steps := make([]int, 4)
	for i := range steps {
		steps[i] = -1
	}
	for _, r := range records {
		if c, ok := r.(*ledger.CanaryStep); ok && c.Version.Tag == "1.1.0" && c.Env == "prod" && c.Step < len(steps) && c.Of == 3 {
			steps[c.Step] = c.Weight
		}
	}
	if !slices.Equal(steps, []int{0, 25, 50, 100}) {
		t.Errorf("1.1.0's canary steps 0..3 in prod had weights %v, want [0 25 50 100] (a commit each)", steps)
	}
	if !hasRecord(records, func(r ledger.Record) bool {
		p, ok := r.(*ledger.Promotion)
		return ok && p.Env == "prod" && p.Version.Tag == "1.1.0"
	}) {
		t.Error("no promotion of 1.1.0 to prod after its canary")
	}

	// A bad release is aborted by the analysis, and rejected.
	if !hasRecord(records, func(r ledger.Record) bool {
		a, ok := r.(*ledger.Abort)
		return ok && a.Env == "prod" && a.Canary.Tag == "1.2.0" && a.Rejects && strings.Contains(a.Reason, "analysis canary failed")
	}) {
		t.Error("no abort of 1.2.0's canary in prod that rejects it and names the failed analysis")
	}
	if hasRecord(records, func(r ledger.Record) bool {
		p, ok := r.(*ledger.Promotion)
		return ok && p.Env == "prod" && p.Version.Tag == "1.2.0"
	}) {
		t.Error("1.2.0 was promoted to prod")
	}

	// The alert rule's alert rolls prod (and dr) back to 1.0.0, rejecting 1.1.0.
	if !hasRecord(records, func(r ledger.Record) bool {
		rb, ok := r.(*ledger.Rollback)
		return ok && rb.Env == "prod" && rb.From.Tag == "1.1.0" && rb.To.Tag == "1.0.0" && rb.Alert.Fingerprint != "" &&
			strings.Contains(rb.Reason, "alert HighErrorRate firing") && slices.Contains(rb.Mirrors, "dr")
	}) {
		t.Error("no rollback of prod (and dr) from 1.1.0 to 1.0.0 caused by the HighErrorRate alert")
	}

	// 1.3.0 waits for approval: proposed on ferry/ppd/checkout, not on main.
	if !hasRecord(demoRecords(t, repo, "ferry/ppd/checkout"), func(r ledger.Record) bool {
		p, ok := r.(*ledger.Promotion)
		return ok && p.Env == "ppd" && p.Version.Tag == "1.3.0"
	}) {
		t.Error("no proposal of 1.3.0 for ppd on ferry/ppd/checkout")
	}
	if hasRecord(records, func(r ledger.Record) bool {
		p, ok := r.(*ledger.Promotion)
		return ok && p.Env == "ppd" && p.Version.Tag == "1.3.0"
	}) {
		t.Error("1.3.0 reached ppd on main without approval")
	}
	if got := overlayTag(t, repo, "overlays/ppd/kustomization.yaml"); got != "1.2.0" {
		t.Errorf("ppd runs %s at the end, want 1.2.0 (1.3.0 waits for its pull request)", got)
	}
	report, err := os.ReadFile(filepath.Join(dir, "pulls", "3.md"))
	if err != nil {
		t.Fatalf("the pending pull request's body: %v", err)
	}
	for _, want := range []string{"# promote checkout 1.3.0 to ppd", "### Decision: allow", "| sonar | checkout analysis", ": OK |",
		"| analysis | smoke in qa: Successful |", "+  newTag: 1.3.0"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("the gate report lacks %q:\n%s", want, report)
		}
	}
	if !strings.Contains(out, "waiting for approval: pull request #3") || !strings.Contains(out, "│ ### Decision: allow") {
		t.Error("the output does not show the pending pull request and its gate report")
	}
	// The scan gate: 1.2.1's CRITICAL finding stops it at qa.
	if !strings.Contains(out, "gate: checkout 1.2.1 -> qa denied: CRITICAL vulnerabilities in 1.2.1") {
		t.Error("the output shows no qa denial of 1.2.1's CRITICAL finding")
	}
	if hasRecord(records, func(r ledger.Record) bool {
		p, ok := r.(*ledger.Promotion)
		return ok && p.Env != "dev" && p.Version.Tag == "1.2.1"
	}) {
		t.Error("1.2.1, with a CRITICAL finding, went past dev")
	}
	// prod waits for the product owner (approval: in the demo's ferry.yaml)
	// and moves once carol's vote is a commit; the canary's first step
	// names her approval.
	for _, tag := range []string{"1.1.0", "1.2.0"} {
		if !strings.Contains(out, "checkout "+tag+" -> prod held: awaiting approval: 0 of 1 (needs user:carol)") {
			t.Errorf("prod did not wait for the product owner's approval of %s", tag)
		}
		if !hasRecord(records, func(r ledger.Record) bool {
			a, ok := r.(*ledger.Approval)
			return ok && a.Env == "prod" && a.Version == tag && a.By.Name == "carol" && !a.Reject
		}) {
			t.Errorf("no approval record of %s for prod by carol", tag)
		}
		if !hasRecord(records, func(r ledger.Record) bool {
			c, ok := r.(*ledger.CanaryStep)
			return ok && c.Env == "prod" && c.Version.Tag == tag && c.Gate != nil && slices.Contains(c.Gate.ApprovedBy, "carol (cli, user:carol)")
		}) {
			t.Errorf("prod's first canary step of %s does not name carol's approval", tag)
		}
	}
	// Nothing moves past qa before its analysis, and pushes reach ferry's webhook.
	if !strings.Contains(out, "-> ppd held: waiting for qa to verify") {
		t.Error("the output shows no hold of ppd while qa analyses")
	}
	if !strings.Contains(out, "ferry POST /hooks/registry (bearer token): 202") || !strings.Contains(out, "ferry POST /hooks/git (bearer token): 202") {
		t.Error("the registry's push notifications or the forge's push events were not accepted by ferry's webhook")
	}
	if !strings.Contains(out, "6 canary steps, 1 canary abort, 1 rollback by ferry; 2 approvals by the product owner; 2 merges of its pull requests by a reviewer") {
		t.Error("the summary of the fleet repo's main branch is not printed, or counts otherwise")
	}
	// The kept ferry.yaml names the Prometheus that ran, and its header
	// reads sensibly with the placeholders filled in.
	if m := regexp.MustCompile(`in-process Prometheus (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(out); m == nil {
		t.Error("the output does not name the in-process Prometheus")
	} else {
		cfg := fileOnMain(t, repo, "ferry.yaml")
		if !strings.Contains(cfg, "prometheus: {address: "+m[1]+"}") {
			t.Errorf("the kept ferry.yaml does not name the Prometheus that ran (%s):\n%s", m[1], cfg)
		}
		for _, line := range strings.Split(cfg, "\n") {
			if strings.HasPrefix(line, "#") && (strings.Contains(line, dir) || strings.Contains(line, "127.0.0.1:")) {
				t.Errorf("the header comment was rewritten by the placeholders' substitution: %q", line)
			}
		}
	}
	// The seed is verified already: ferry does not analyse 1.0.0 (a race
	// with the workload's first scrapes, Inconclusive in some runs).
	if strings.Contains(out, "checkout 1.0.0 in qa") {
		t.Error("ferry analysed the seed's 1.0.0 in qa")
	}
	// A successful run prints no error, also none the demo's shutdown causes.
	if strings.Contains(out, "error:") || strings.Contains(out, "context canceled") {
		t.Error("a successful run printed an error")
	}
	// A commit is printed before the decisions that name it.
	for _, m := range regexp.MustCompile(`(?m)^(.*)held: waiting for qa to verify \S+ \(commit ([0-9a-f]{7})`).FindAllStringSubmatchIndex(out, -1) {
		if !strings.Contains(out[:m[0]], "git: "+out[m[4]:m[5]]) {
			t.Errorf("%q is printed before the commit it names", out[m[0]:m[1]])
		}
	}
	// Soak held prod before each canary.
	if !regexp.MustCompile(`checkout 1\.1\.0 -> prod denied: 1\.1\.0 has run \d+s in ppd, prod needs 2s`).MatchString(out) {
		t.Error("the output shows no soak denial for prod")
	}
}

// TestDemoRemovesItsDir: without --keep the temp dir is gone after the
// demo (TestDemoInterrupted: also when it is interrupted), and the replay
// command is not printed as if it could still run.
func TestDemoRemovesItsDir(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about 20 s")
	}
	tmp := t.TempDir()
	out, err := runDemoCmd(context.Background(), t, tmp)
	if err != nil {
		t.Fatalf("ferry demo: %v\n%s", err, out)
	}
	if dirs := demoDirs(t, tmp); len(dirs) != 0 {
		t.Errorf("ferry demo left %v behind", dirs)
	}
	// The replay command is not given for a directory that is gone.
	if !strings.Contains(out, "is removed now.\nrun ferry demo --keep to replay it with: git -C <dir>/fleet.git log --notes=ferry") {
		t.Errorf("the output does not say how to replay the story:\n%s", out)
	}
}

// interruptDemo runs `ferry demo args...` and, once the agent has promoted
// something, calls interrupt; it returns the output and the error.
func interruptDemo(t *testing.T, ctx context.Context, tmp string, interrupt func(), args ...string) (string, error) {
	t.Helper()
	t.Setenv("TMPDIR", tmp)
	root := rootCmd()
	buf := &syncbuf.Buffer{}
	root.SetOut(buf)
	root.SetErr(buf)
	root.SetArgs(append([]string{"demo"}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	for !strings.Contains(buf.String(), "promote checkout 1.1.0 to qa") {
		select {
		case err := <-done:
			t.Fatalf("the demo ended before it was interrupted: %v\n%s", err, buf.String())
		case <-time.After(20 * time.Millisecond): // poll the output
		}
	}
	interrupt()
	err := <-done
	return buf.String(), err
}

// TestDemoDeadline: a story that cannot finish (a full disk stops the
// agent's writes) ends at the demo's deadline with an error naming what it
// waited for, and the temp dir is removed.
func TestDemoDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's first steps")
	}
	defer func(d time.Duration) { demoDeadline = d }(demoDeadline)
	demoDeadline = 1500 * time.Millisecond // the pull request for ppd comes after qa's analysis, later than that
	tmp := t.TempDir()
	out, err := runDemoCmd(context.Background(), t, tmp)
	// Which step it waits for at 1.5 s depends on the machine's load (the
	// pull request for ppd on an idle one); the message must name one.
	if err == nil || !regexp.MustCompile(`not finished after 1\.5s: it was waiting for \S`).MatchString(err.Error()) ||
		!strings.Contains(err.Error(), "rerun with --log-level info") {
		t.Errorf("demo past its deadline: %v, want an error naming the step and --log-level info\n%s", err, out)
	}
	if dirs := demoDirs(t, tmp); len(dirs) != 0 {
		t.Errorf("the demo left %v behind after its deadline", dirs)
	}
}

// TestTimelineHandler: the agent's ERROR records reach the timeline (a
// failing write is seen without --log-level); the pass's errors and failed
// analyses, printed otherwise, do not twice.
func TestTimelineHandler(t *testing.T) {
	var said []string
	log := slog.New(&timelineHandler{next: slog.DiscardHandler, say: func(s string) { said = append(said, s) }})
	log.With("app", "checkout").Error("record verdict", "env", "qa", "err", errors.New("write note: no space left on device"))
	log.Info("reconcile pass", "apps", 1)
	log.Error("reconcile pass", "err", errors.New("printed by OnPass"))
	log.Error("analysis failed", "verdict", "Failed")
	want := []string{"record verdict app=checkout env=qa: write note: no space left on device"}
	if !slices.Equal(said, want) {
		t.Errorf("the timeline got %q, want %q", said, want)
	}
}

// fileOnMain is path's content at main's head.
func fileOnMain(t *testing.T, repo *git.Repository, path string) string {
	t.Helper()
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(ref.Hash())
	if err != nil {
		t.Fatal(err)
	}
	data, err := fileAt(c, path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// demoRecords are ferry's records on branch, every parent followed, in no
// particular order.
func demoRecords(t *testing.T, repo *git.Repository, branch string) []ledger.Record {
	t.Helper()
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("branch %s: %v", branch, err)
	}
	iter, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Record
	_ = iter.ForEach(func(c *object.Commit) error {
		if r := ledger.Parse(c.Message); r != nil {
			out = append(out, r)
		}
		return nil
	})
	return out
}

func hasRecord(rs []ledger.Record, match func(ledger.Record) bool) bool {
	return slices.ContainsFunc(rs, match)
}

// overlayTag is checkout's tag in path at main's head.
func overlayTag(t *testing.T, repo *git.Repository, path string) string {
	t.Helper()
	imgs, err := overlays.ReadImages([]byte(fileOnMain(t, repo, path)))
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		if img.Name == "registry.example/shop/checkout" {
			return img.NewTag
		}
	}
	return ""
}

// TestDemoSayErrorOnce: an error repeated every pass (a full disk) is
// printed once, though its hashes and temp names change.
func TestDemoSayErrorOnce(t *testing.T) {
	out := &syncbuf.Buffer{}
	d := &demo{w: out, start: time.Now(), ctx: context.Background(), errors: map[string]bool{}}
	d.sayError("agent", "checkout in prod: write commit 5d4d0dac6a7d: write clone/objects/pack/tmp_obj_266288457: no space left on device")
	d.sayError("agent", "checkout in prod: write commit 302f27ae8374: write clone/objects/pack/tmp_obj_559019229: no space left on device")
	d.sayError("prometheus", "checkout in prod: write commit 302f27ae8374: write clone/objects/pack/tmp_obj_559019229: no space left on device")
	d.sayError("agent", "checkout in qa: record verdict: no space left on device")
	if n := strings.Count(out.String(), "error:"); n != 3 {
		t.Errorf("%d error lines, want 3 (one per distinct error):\n%s", n, out)
	}
	if !strings.Contains(out.String(), "] agent: error: checkout in prod: write commit 5d4d0dac6a7d") {
		t.Errorf("the first error is not printed as agent: error: ...:\n%s", out)
	}
}
