package main

import (
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/ledger"
)

// retryPipeline analyses dev with a Prometheus that is down: the query
// errors once (consecutiveErrorLimit 0), so the verdict is Inconclusive and
// qa is held, the case retry-analysis exists for.
const retryPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
providers:
  prometheus: {address: "http://DEAD", timeout: 2s}
analyses:
  smoke:
    count: 1
    consecutiveErrorLimit: 0
    metrics:
      - name: error-ratio
        query: 'sum(rate(http_requests_total{app="{{.App}}",env="{{.Env}}",code=~"5.."}[1m]))'
        successCondition: result < 0.01
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true, analysis: smoke}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
`

// TestRetryAnalysis walks a person out of a hold: run --once promotes to
// dev and records an inconclusive verdict; plan names retry-analysis;
// retry-analysis removes the verdict from the note on the promotion
// commit and prints that commit; a second call has nothing to remove
// (exit 1); and the next run --once analyses the version again.
func TestRetryAnalysis(t *testing.T) {
	f := newCmdFleet(t, retryPipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	code, out, _, err := f.ferry(t, "run", "--once")
	if code != 0 || !strings.Contains(out, "promoted checkout 1.0.0") || !strings.Contains(out, ": Inconclusive: ") {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	promotion := f.git(t, "log", "-1", "--format=%H", "main", "--", "overlays/dev")
	notes := func() string {
		out, err := runGit(f, "notes", "--ref="+ledger.NotesRef, "show", promotion)
		if err != nil {
			return "" // no note on the commit
		}
		return out
	}
	if n := notes(); !strings.Contains(n, "Ferry-Verdict: Inconclusive") || !strings.Contains(n, "Ferry-Env: dev") {
		t.Fatalf("note on the dev promotion %.12s:\n%s\nwant dev's inconclusive verdict", promotion, n)
	}
	_, plan, _, _ := f.ferry(t, "plan")
	if !strings.Contains(plan, "`ferry retry-analysis checkout --env dev`") {
		t.Fatalf("plan does not name retry-analysis for the held qa:\n%s", plan)
	}

	head := f.head(t)
	code, out, stderr, err := f.ferry(t, "retry-analysis", "checkout", "--env", "dev", "--reason", "Prometheus was down")
	if code != 0 {
		t.Fatalf("retry-analysis: exit %d, %v\n%s", code, err, stderr)
	}
	if want := "removed dev's verdict on checkout from the note on " + promotion[:12]; !strings.HasPrefix(out, want) {
		t.Errorf("retry-analysis printed %q, want it to start with %q", out, want)
	}
	if n := notes(); strings.Contains(n, "Ferry-Env: dev") {
		t.Errorf("the note on %.12s still holds dev's verdict:\n%s", promotion, n)
	}
	if got := f.head(t); got != head {
		t.Errorf("retry-analysis moved main from %.12s to %.12s; it edits only the note", head, got)
	}
	_, plan, _, _ = f.ferry(t, "plan")
	if strings.Contains(plan, "inconclusive") || !strings.Contains(plan, "waiting for dev to verify 1.0.0") {
		t.Errorf("plan after retry-analysis:\n%s\nwant qa waiting for dev's new verdict", plan)
	}

	// Nothing left to remove: a clear refusal, exit 1.
	code, out, _, err = f.ferry(t, "retry-analysis", "checkout", "--env", "dev")
	if code != 1 || err == nil || err.Error() != "dev has no verdict on what it runs of checkout now; nothing to analyse again" || out != "" {
		t.Errorf("second retry-analysis: exit %d, error %v, stdout %q", code, err, out)
	}

	// The version is analysed again, by the next pass.
	code, out, _, err = f.ferry(t, "run", "--once")
	if code != 0 || !strings.Contains(out, "analysing checkout 1.0.0") {
		t.Errorf("run --once after retry-analysis: exit %d, %v\n%s\nwant dev's analysis to run again", code, err, out)
	}
	if n := notes(); !strings.Contains(n, "Ferry-Env: dev") {
		t.Errorf("no new verdict on %.12s after the pass:\n%s", promotion, n)
	}
}

// TestRetryAnalysisRefusals: names ferry.yaml does not have are refused
// with the list of those it has; an environment that verifies nothing has
// no verdict to remove; --env is required. None of them writes.
func TestRetryAnalysisRefusals(t *testing.T) {
	f := newCmdFleet(t, retryPipeline, nil)
	head := f.head(t)
	notesBefore, _ := runGit(f, "for-each-ref", ledger.NotesRef)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"checkout", "--env", "dve"}, `--env "dve": no such environment in ` + f.cfg + ` (environments: dev, qa)`},
		{[]string{"chekout", "--env", "dev"}, `app "chekout": no such app in ` + f.cfg + ` (apps: checkout)`},
		{[]string{"checkout", "--env", "qa"}, "qa verifies nothing"},
		{[]string{"checkout", "--env", "dev", "--reason", "prometheus\nwas down"}, "--reason: the reason has a control character (U+000A"},
		{[]string{"checkout", "--env", "dev", "--reason", ""}, "--reason is empty"},
		{[]string{"checkout"}, `required flag(s) "env" not set`},
		{[]string{"--env", "dev"}, "accepts 1 arg(s), received 0"},
	} {
		code, out, _, err := f.ferry(t, append([]string{"retry-analysis"}, tc.args...)...)
		if code != 1 || err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("%v: exit %d, error %v, stdout %q; want exit 1 and an error containing %q", tc.args, code, err, out, tc.want)
		}
	}
	notesAfter, _ := runGit(f, "for-each-ref", ledger.NotesRef)
	if got := f.head(t); got != head || notesAfter != notesBefore {
		t.Errorf("a refused retry-analysis wrote: main %.12s -> %.12s, notes %q -> %q", head, got, notesBefore, notesAfter)
	}
}

// runGit is f.git that returns git's error instead of failing the test.
func runGit(f *cmdFleet, args ...string) (string, error) {
	return gitIn(f.bare, args...)
}
