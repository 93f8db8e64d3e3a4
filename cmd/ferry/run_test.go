package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/policies"
)

// runOncePipeline has checkout on the test's registry and cart on CART,
// filled in per case: the same registry, or one where nothing listens.
const runOncePipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
registry: {timeout: 5s, lookupTimeout: 10s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: CART/shop/cart, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}
`

// runOnceOverlay is an environment's kustomization with both apps.
const runOnceOverlay = `resources: [../../base]
images:
- name: registry.example/shop/checkout
  newName: REGISTRY/shop/checkout
  newTag: 0.0.0
- name: registry.example/shop/cart
  newName: CART/shop/cart
  newTag: 0.0.0
`

// TestRunOnceExitCode checks what run --help promises: --once exits 0
// when every app and environment was decided, whatever was decided
// (promoted, or denied by a policy), and 1 when one could not be (here
// cart's registry is down), with the error, while the apps that could be
// decided still are.
func TestRunOnceExitCode(t *testing.T) {
	denyCart := "package ferry.promotion\n\ndeny contains \"cart waits for the load test\" if {\n\tinput.app.name == \"cart\"\n\tinput.environment.name == \"qa\"\n}\n"
	for _, tc := range []struct {
		name       string
		cartDown   bool
		policy     string
		code       int
		stdout     []string
		notStdout  string
		errorNames string
	}{
		{name: "all promoted", code: 0,
			stdout: []string{"promoted checkout 1.0.0", "promoted cart 1.0.0@sha256:9e1f74647142 to qa"}, notStdout: "error:"},
		{name: "a denial is a decision", policy: denyCart, code: 0,
			stdout: []string{"promoted checkout 1.0.0@sha256:47de491d9a49 to qa", "promoted cart 1.0.0@sha256:9e1f74647142 to dev"}, notStdout: "error:"},
		{name: "one app's registry is down", cartDown: true, code: 1,
			stdout: []string{"promoted checkout 1.0.0@sha256:47de491d9a49 to qa", "error: "}, errorNames: "shop/cart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cart := "REGISTRY"
			if tc.cartDown {
				cart = "DEAD"
			}
			pipeline := strings.ReplaceAll(runOncePipeline, "CART", cart)
			overlay := strings.ReplaceAll(runOnceOverlay, "CART", cart)
			files := map[string]string{"overlays/dev/kustomization.yaml": overlay, "overlays/qa/kustomization.yaml": overlay}
			if tc.policy != "" {
				files["policies/gate.rego"] = tc.policy
			}
			f := newCmdFleet(t, pipeline, files)
			f.push(t, "shop/checkout", "1.0.0")
			if !tc.cartDown {
				f.push(t, "shop/cart", "1.0.0")
			}
			code, stdout, _, err := f.ferry(t, "run", "--once")
			if code != tc.code {
				t.Fatalf("exit %d, want %d (error %v)\n%s", code, tc.code, err, stdout)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			if tc.notStdout != "" && strings.Contains(stdout, tc.notStdout) {
				t.Errorf("stdout has %q:\n%s", tc.notStdout, stdout)
			}
			if tc.code != 0 && (err == nil || !strings.Contains(err.Error(), tc.errorNames)) {
				t.Errorf("error %v; want one naming %s", err, tc.errorNames)
			}
			if tc.policy != "" {
				// The denial was made (not skipped): plan shows it.
				if _, plan, _, _ := f.ferry(t, "plan"); !strings.Contains(plan, "deny: cart waits for the load test") {
					t.Errorf("plan after the pass shows no denial:\n%s", plan)
				}
			}
		})
	}
}

// TestRunOnceHelp: the help of run says what --once's exit code means.
func TestRunOnceHelp(t *testing.T) {
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"run", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	help := strings.Join(strings.Fields(out.String()), " ") // the text is wrapped
	for _, want := range []string{
		"exits: 0 when every app and environment was decided (whatever was decided: promoted, held or denied), 1 when one of them could not be (a registry, the fleet repo or an overlay failed), with the errors on stderr",
		"# one reconcile pass, then exit (0 when everything was decided, 1 on an error)",
		"--once[=true|false] run one full reconcile pass and exit: 0 when every app and environment was decided, 1 when one could not be",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("run --help does not say %q:\n%s", want, out.String())
		}
	}
	// What it said before: untrue since a per-app error exits 1.
	if strings.Contains(help, "0 when it finished, whatever it decided") {
		t.Errorf("run --help still says --once exits 0 whatever it decided:\n%s", out.String())
	}
}

// TestConfigInRepoSignsAsItsAuthor (H10): with --config naming the fleet
// repo, ferry.yaml's git.author signs the commits (they were signed
// "ferry <ferry@localhost>", the bootstrap's default).
func TestConfigInRepoSignsAsItsAuthor(t *testing.T) {
	pipeline := strings.Replace(outputPipeline, "author: {name: ferry, email: ferry@example.com}", "author: {name: Release Bot, email: release-bot@corp.example}", 1)
	f := newCmdFleet(t, pipeline, nil)
	cfg, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "person")
	for _, args := range [][]string{{"clone", "-q", f.bare, clone}} {
		if out, err := gitIn(t.TempDir(), args...); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(clone, "ferry.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "ferry.yaml"}, {"-c", "user.name=p", "-c", "user.email=p@example.com", "commit", "-qm", "ferry.yaml"}, {"push", "-q", "origin", "HEAD:main"}} {
		if out, err := gitIn(clone, args...); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/cart", "1.0.0")
	if code, out, stderr, err := runFerry(t, "run", "--once", "--config", "file://"+f.bare, "--work-dir", f.work, "--log-level", "warn"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if got := f.git(t, "log", "-1", "--format=%an <%ae>", "main"); got != "Release Bot <release-bot@corp.example>" {
		t.Fatalf("ferry's commit is signed %q, want git.author", got)
	}
}

// TestUngatedEnvironmentWarned is issue 14's renamed environment from the
// command line: with the default policies, qa renamed to quality has no
// rule that can deny there. run logs it and plan prints it; with
// `tier: test` (as the README shows) neither does, and the unscanned
// image is held there by qa's gate, which plan prints (and does not log
// again).
func TestUngatedEnvironmentWarned(t *testing.T) {
	for _, tc := range []struct {
		name, tier string
		warned     bool
	}{
		{"renamed", "", true},
		{"renamed with its tier", ", tier: test", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pipeline := strings.ReplaceAll(runOncePipeline, "CART", "REGISTRY")
			pipeline = strings.Replace(pipeline, "{name: qa,  overlay: overlays/qa,  from: dev, auto: true}", "{name: quality, overlay: overlays/qa, from: dev, auto: true"+tc.tier+"}", 1)
			overlay := strings.ReplaceAll(runOnceOverlay, "CART", "REGISTRY")
			files := map[string]string{"overlays/dev/kustomization.yaml": overlay, "overlays/qa/kustomization.yaml": overlay}
			for name, data := range policies.DefaultFiles() {
				files["policies/"+name] = string(data)
			}
			f := newCmdFleet(t, pipeline, files)
			f.push(t, "shop/checkout", "1.0.0")
			f.push(t, "shop/cart", "1.0.0")
			code, stdout, stderr, err := f.ferry(t, "run", "--once")
			if code != 0 {
				t.Fatalf("run --once: exit %d, %v\n%s%s", code, err, stdout, stderr)
			}
			const logged = `msg="ungated environment" env=quality reason="environment quality: no policy rule denies`
			if got := strings.Contains(stderr, logged); got != tc.warned {
				t.Errorf("run logged the warning: %v, want %v\n%s", got, tc.warned, stderr)
			}
			_, plan, planLog, err := f.ferry(t, "plan")
			if err != nil {
				t.Fatal(err)
			}
			// plan prints its denials once, not again as log lines.
			if strings.Contains(plan, "deny: no Trivy report") == tc.warned || strings.Contains(planLog, "msg=denied") {
				t.Errorf("plan's denials on stdout and stderr:\n%s\n%s", plan, planLog)
			}
			if got := strings.Contains(plan, "warning: environment quality: no policy rule denies any candidate there"); got != tc.warned {
				t.Errorf("plan printed the warning: %v, want %v\n%s", got, tc.warned, plan)
			}
			// The images carry no Trivy report: only qa's gate stops them.
			if promoted := strings.Contains(stdout, "to quality"); promoted != tc.warned {
				t.Errorf("promoted into quality: %v, want %v\n%s", promoted, tc.warned, stdout)
			}
		})
	}
}
