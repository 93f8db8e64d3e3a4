package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/internal/output"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// outputPipeline is two apps on a five-environment chain; outputPolicy
// denies one move and warns on others, so plan shows every kind of row.
const (
	outputPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: REGISTRY/shop/cart, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`
	outputPolicy = `package ferry.promotion

deny contains "cart waits for the load test" if {
	input.app.name == "cart"
	input.environment.name == "ppd"
}

warn contains "tell support <support@example.com> & the on-call" if input.environment.name == "prod"
`
)

// TestOutputGolden pins what plan, status and policy eval and input print,
// in text and JSON, byte for byte (after volatile parts are replaced:
// the registry's port, commit hashes, times and soak durations).
func TestOutputGolden(t *testing.T) {
	f := newCmdFleet(t, outputPipeline, map[string]string{"policies/gate.rego": outputPolicy})
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/cart", "1.0.0")
	if code, out, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	f.push(t, "shop/checkout", "1.1.0")

	dir := writeTree(t, map[string]string{
		"policies/gate.rego": outputPolicy,
		"in.json":            `{"app": {"name": "cart", "image": "r/cart"}, "environment": {"name": "ppd"}, "candidate": {"version": "1.0.0"}, "time": "2026-01-01T00:00:00Z"}`,
		"prod.json":          `{"app": {"name": "cart", "image": "r/cart"}, "environment": {"name": "prod"}, "candidate": {"version": "1.0.0"}, "time": "2026-01-01T00:00:00Z"}`,
	})
	eval := func(input string, more ...string) []string {
		return append([]string{"policy", "eval", "--input", filepath.Join(dir, input), "--policies", filepath.Join(dir, "policies")}, more...)
	}
	for _, tc := range []struct {
		golden string
		args   []string
	}{
		{"plan.txt", []string{"plan"}},
		{"plan.json", []string{"plan", "-o", "json"}},
		{"status.txt", []string{"status"}},
		{"status.json", []string{"status", "--output=json"}},
		{"policy-input.json", []string{"policy", "input", "checkout", "prod"}},
		{"policy-eval-deny.txt", eval("in.json")},
		{"policy-eval-deny.json", eval("in.json", "-o", "json")},
		{"policy-eval-warn.txt", eval("prod.json", "-o", "text")},
		{"policy-eval-warn.json", eval("prod.json", "-ojson")},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			code, stdout, stderr, err := f.ferry(t, tc.args...)
			if code != 0 {
				t.Fatalf("%v: exit %d, %v\n%s", tc.args, code, err, stderr)
			}
			got := normalize(stdout, f.reg)
			path := filepath.Join("testdata", "output", tc.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("%v printed (normalized):\n%s\nwant (%s):\n%s", tc.args, got, path, want)
			}
		})
	}
}

// TestOutputFlags checks every command with -o takes it from the one
// helper (internal/output), and that plan, status, dora, policy eval and
// evidence ls refuse a wrong value before they read anything: here --config names a
// file that does not exist, so a later check would blame it instead.
func TestOutputFlags(t *testing.T) {
	var with []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if fl := c.Flags().Lookup("output"); fl != nil {
			with = append(with, c.CommandPath())
			if _, ok := fl.Value.(*output.Format); !ok || fl.Shorthand != "o" {
				t.Errorf("%s: -o/--output is a %T, not internal/output's flag", c.CommandPath(), fl.Value)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd())
	if got, want := strings.Join(with, ", "), "ferry dora, ferry evidence ls, ferry plan, ferry policy eval, ferry status"; got != want {
		t.Errorf("commands with -o: %s; want %s", got, want)
	}

	missing := filepath.Join(t.TempDir(), "ferry.yaml")
	for _, args := range [][]string{
		{"plan", "-o", "yaml"},
		{"status", "--output", "table"},
		{"dora", "-o", "JSON"},
		{"policy", "eval", "--input", "in.json", "-o", "wide"},
		{"evidence", "ls", "127.0.0.1:1/shop/checkout@sha256:" + strings.Repeat("0", 64), "-o", "yaml"},
	} {
		code, stdout, _, err := runFerry(t, append(args, "--config", missing)...)
		val := args[len(args)-1]
		want := `invalid argument "` + val + `" for "-o, --output" flag: want text or json`
		if code != 1 || err == nil || err.Error() != want || stdout != "" {
			t.Errorf("%v: exit %d, error %v, stdout %q; want exit 1 and %q", args, code, err, stdout, want)
		}
	}
}

var (
	// A commit hash, full or cut to 12; digests (sha256:...) are kept: the
	// test's images are the same on every run.
	hashRE = regexp.MustCompile(`(sha256:)?\b[0-9a-f]{12}(?:[0-9a-f]{28})?\b`)
	timeRE = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`)
	soakRE = regexp.MustCompile(`(soak \w+ )\d+s\b`)
	secsRE = regexp.MustCompile(`("seconds": )\d+`)
)

// normalize replaces what differs between runs: the registry's address,
// commit hashes, times and how long a version has soaked.
func normalize(s, reg string) string {
	s = strings.ReplaceAll(s, reg, "REGISTRY")
	s = hashRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "sha256:") {
			return m
		}
		return strings.Repeat("h", len(m))
	})
	s = timeRE.ReplaceAllString(s, "TIME")
	s = soakRE.ReplaceAllString(s, "${1}Ns")
	return secsRE.ReplaceAllString(s, "${1}N")
}
