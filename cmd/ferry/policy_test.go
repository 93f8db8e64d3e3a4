package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
	"github.com/ferry-dev/ferry/policies"
)

// runFerry runs the ferry command line in-process and returns its exit
// code as main would give it, with stdout and stderr.
func runFerry(t *testing.T, args ...string) (code int, stdout, stderr string, err error) {
	t.Helper()
	root := rootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	var ee exitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
	}
	return code, out.String(), errOut.String(), err
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	gateRego = `package ferry.promotion

deny contains "rejected" if input.candidate.version in input.evidence.rejected
`
	gateTest = `package ferry.promotion_test

import data.ferry.promotion

test_rejected if {
	promotion.deny == {"rejected"} with input as {"candidate": {"version": "1"}, "evidence": {"rejected": ["1"]}}
}
`
	gateFailingTest = `package ferry.promotion_test

import data.ferry.promotion

test_expects_nothing if {
	count(promotion.deny) == 0 with input as {"candidate": {"version": "1"}, "evidence": {"rejected": ["1"]}}
}
`
	gateBroken = "package ferry.promotion\n\ndeny contains msg if {\n\tmsg := := \"no\"\n}\n"
)

// TestPolicyTestExitCodes runs `ferry policy test` as a user would: 0 when
// every test passes (or there are none and the policies load), 1 when one
// fails, 2 when the directory does not load, whatever its tests.
func TestPolicyTestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		arg    string // default: the policies directory
		code   int
		stdout string
		stderr string
	}{
		{"all pass", map[string]string{"policies/gate.rego": gateRego, "policies/gate_test.rego": gateTest}, "", 0, "PASS: 1/1", ""},
		{"one fails", map[string]string{"policies/gate.rego": gateRego, "policies/gate_test.rego": gateFailingTest}, "", 1, "FAIL: 1/1", ""},
		{"no tests, policies load", map[string]string{"policies/gate.rego": gateRego}, "", 0, "no tests (*_test.rego)", ""},
		{"compile error without tests", map[string]string{"policies/gate.rego": gateBroken}, "", 2, "", "policies/gate.rego:4:9: rego_parse_error"},
		{"compile error with tests", map[string]string{"policies/gate.rego": gateBroken, "policies/gate_test.rego": gateTest}, "", 2, "", "policies/gate.rego:4:9: rego_parse_error"},
		{"broken data without tests", map[string]string{"policies/gate.rego": gateRego, "policies/data.yaml": "a: [\n"}, "", 2, "", "data file policies/data.yaml: yaml: line"},
		{"nothing can deny, tests pass", map[string]string{"policies/gate.rego": "package ferry.promotion\n\nwarn contains \"w\" if input.time\n",
			"policies/gate_test.rego": "package ferry.promotion_test\n\ntest_x if true\n"}, "", 2, "", "no `deny contains msg` rule"},
		{"missing directory", map[string]string{"other/gate.rego": gateRego}, "policies", 2, "", "policy directory policies does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			arg := tc.arg
			if arg == "" {
				arg = "policies"
			}
			code, stdout, stderr, _ := runFerry(t, "policy", "test", filepath.Join(dir, arg))
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
		})
	}
}

// TestPolicyEvalMissingDirectory checks a wrong --policies is blamed on
// the directory, not on the input file.
func TestPolicyEvalMissingDirectory(t *testing.T) {
	dir := writeTree(t, map[string]string{"in.json": `{"app": {"name": "checkout"}}`})
	input := filepath.Join(dir, "in.json")
	missing := filepath.Join(dir, "nope")
	code, stdout, _, err := runFerry(t, "policy", "eval", "--input", input, "--policies", missing)
	if code != 1 || err == nil || stdout != "" {
		t.Fatalf("exit %d, error %v, stdout %q; want exit 1 with an error", code, err, stdout)
	}
	msg := err.Error()
	if !strings.Contains(msg, "policy directory "+missing+" does not exist") || !strings.Contains(msg, "--policies") {
		t.Errorf("error %q does not say the policy directory is missing", msg)
	}
	if strings.Contains(msg, "in.json") {
		t.Errorf("error %q blames the input file", msg)
	}

	// The input file is still blamed for what is its own fault.
	policiesDir := writeTree(t, map[string]string{"gate.rego": gateRego})
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"app": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := runFerry(t, "policy", "eval", "--input", bad, "--policies", policiesDir); err == nil || !strings.HasPrefix(err.Error(), bad+": ") {
		t.Errorf("bad input: %v; want an error naming %s", err, bad)
	}
	if _, _, _, err := runFerry(t, "policy", "eval", "--input", filepath.Join(dir, "none.json"), "--policies", policiesDir); err == nil || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("missing input: %v; want an error naming none.json", err)
	}
}

// TestPolicyEvalData checks `ferry policy eval -o json` decides with the
// data files and lists them.
func TestPolicyEvalData(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"in.json":                    `{"app": {"name": "legacy"}}`,
		"policies/gate.rego":         "package ferry.promotion\n\ndeny contains \"blocked\" if input.app.name in data.blocklist\n",
		"policies/data.json":         `{"blocklist": ["legacy"]}`,
		"policies/teams/data.yaml":   "shop: {}\n",
		"policies/testdata/x.json":   "not data",
		"policies/input.schema.json": `{"type": "object"}`,
	})
	code, stdout, stderr, err := runFerry(t, "policy", "eval", "--input", filepath.Join(dir, "in.json"), "--policies", filepath.Join(dir, "policies"), "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, stderr)
	}
	var got struct {
		Allow bool
		Deny  []string
		Data  []policies.DataFile
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	want := []policies.DataFile{{File: "data.json", Path: "data"}, {File: "teams/data.yaml", Path: "data.teams"}}
	if got.Allow || strings.Join(got.Deny, ",") != "blocked" || len(got.Data) != 2 || got.Data[0] != want[0] || got.Data[1] != want[1] {
		t.Errorf("got %+v, want a denial and data %+v", got, want)
	}
}

// TestPolicyEvalTimeout checks --timeout bounds the decision and the
// error says so.
func TestPolicyEvalTimeout(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"in.json": `{"app": {"name": "checkout"}}`,
		"policies/slow.rego": `package ferry.promotion

deny contains "slow" if {
	n := count({x | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000); x := i + j})
	n < 0
}
`,
	})
	_, _, _, err := runFerry(t, "policy", "eval", "--input", filepath.Join(dir, "in.json"), "--policies", filepath.Join(dir, "policies"), "--timeout", "50ms")
	if !errors.Is(err, policies.ErrDecisionTimeout) || !strings.Contains(err.Error(), "did not finish within 50ms") {
		t.Fatalf("got %v; want a decision timeout", err)
	}
}

// TestPolicyInputSaysWhyEvidenceIsAbsent: evidence that cannot be had is
// left out of the input (so a policy that needs it denies), and `policy
// input` says why on stderr, keeping stdout the document. Found by H8: a
// failed metric query printed the input without it and no reason.
func TestPolicyInputSaysWhyEvidenceIsAbsent(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	prometheus := "http://" + closed.Addr().String()
	closed.Close() // nothing listens there: every query is refused
	pipeline := `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true, metrics: [{name: up_count, query: "count(up)"}]}
providers:
  prometheus: {address: ` + prometheus + `, timeout: 2s}
`
	f := newCmdFleet(t, pipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	if code, out, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	code, stdout, stderr, err := f.ferry(t, "policy", "input", "checkout", "qa")
	if code != 0 {
		t.Fatalf("policy input: exit %d, %v\n%s", code, err, stderr)
	}
	var in struct {
		Evidence map[string]any `json:"evidence"`
	}
	if err := json.Unmarshal([]byte(stdout), &in); err != nil {
		t.Fatalf("stdout is not the input document (%v):\n%s", err, stdout)
	}
	if _, ok := in.Evidence["metrics"]; ok {
		t.Fatalf("a metric that could not be queried is in the input:\n%s", stdout)
	}
	if !strings.Contains(stderr, "note: metric up_count unavailable:") || !strings.Contains(stderr, "connection refused") {
		t.Fatalf("stderr does not say why the metric is absent:\n%s", stderr)
	}
}

// TestPolicyInputSignedBy (red team): `ferry policy input` shows
// input.current.signed_by as the gate gets it. Under git.verifyCommits warn
// qa's current version, set by a person's unsigned commit (the seed), is
// there with verified false, the commit and why.
func TestPolicyInputSignedBy(t *testing.T) {
	key := gitsigtest.NewSSHKey(t, "ferry")
	pipeline := signedPipeline(key, "warn", "  - {name: qa,  overlay: overlays/qa,  from: dev}\n")
	f := newCmdFleet(t, pipeline, map[string]string{".ferry/allowed_signers": "# nobody yet\n"})
	f.push(t, "shop/checkout", "1.0.0")
	if code, out, _, err := f.ferry(t, "run", "--once"); code != 0 {
		t.Fatalf("run --once: exit %d, %v\n%s", code, err, out)
	}
	seed := strings.TrimSpace(f.git(t, "rev-list", "--max-parents=0", "main"))
	author := strings.TrimSpace(f.git(t, "log", "-1", "--format=%ae", seed))
	code, stdout, stderr, err := f.ferry(t, "policy", "input", "checkout", "qa")
	if code != 0 {
		t.Fatalf("policy input: exit %d, %v\n%s", code, err, stderr)
	}
	var in struct {
		Current struct {
			SignedBy map[string]any `json:"signed_by"`
		} `json:"current"`
	}
	if err := json.Unmarshal([]byte(stdout), &in); err != nil {
		t.Fatalf("stdout is not the input document (%v):\n%s", err, stdout)
	}
	sb := in.Current.SignedBy
	if sb == nil || sb["verified"] != false || sb["commit"] != seed || sb["author"] != author || sb["reason"] == nil {
		t.Fatalf("input.current.signed_by is %v, want the seed %s by %s, unverified, with a reason:\n%s", sb, seed, author, stdout)
	}
}

// TestFreezeOnUnverifiedFile (red team): under verifyCommits require,
// `ferry freeze` refuses to sign a change on top of a freeze file a person
// last changed without a signature (its signature would adopt that change,
// such as another freeze removed), and says what to do.
func TestFreezeOnUnverifiedFile(t *testing.T) {
	key := gitsigtest.NewSSHKey(t, "ferry")
	pipeline := signedPipeline(key, "require", "")
	f := newCmdFleet(t, pipeline, map[string]string{".ferry/allowed_signers": "# nobody yet\n",
		".ferry/freeze.yaml": "apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n- {name: audit, envs: [dev], reason: audit}\n"})
	before := f.git(t, "rev-parse", "main")
	code, stdout, stderr, ferr := f.ferry(t, "freeze", "f2", "--env", "dev", "--reason", "release")
	if ferr != nil {
		stderr += ferr.Error()
	}
	stderr += stdout
	if code == 0 || !strings.Contains(stderr, ".ferry/freeze.yaml was last changed by an unverified commit") || !strings.Contains(stderr, "signed by an allowed signer") {
		t.Fatalf("ferry freeze on an unverified freeze file: exit %d\n%q", code, stderr)
	}
	if after := f.git(t, "rev-parse", "main"); after != before {
		t.Errorf("ferry freeze wrote %s", after)
	}
}

// signedPipeline is checkout through dev (and more envs), ferry signing
// with key and checking people's commits in mode against
// .ferry/allowed_signers.
func signedPipeline(key gitsigtest.SSHKey, mode, moreEnvs string) string {
	return `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  author: {name: ferry, email: ferry@example.com}
  signing: {sshKeyFile: ` + key.Private + `}
  verifyCommits: {mode: ` + mode + `, allowedSigners: .ferry/allowed_signers}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
` + moreEnvs
}
