package policies

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestRunTests(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dir     string
		verbose bool
		code    int
		out     []string // substrings of the report, in order
		err     []string // substrings of the error, in order; none: no error
	}{
		{name: "all pass", dir: "pass", code: TestsPassed, out: []string{"PASS: 2/2"}},
		{name: "all pass verbose", dir: "pass", verbose: true, code: TestsPassed, out: []string{
			"testdata/runtests/pass/gate_test.rego:5:",
			"data.ferry.promotion_test.test_rejected_denied: PASS",
			"data.ferry.promotion_test.test_other_allowed: PASS",
			"PASS: 2/2",
		}},
		{name: "one fails", dir: "fail", code: TestsFailed, out: []string{
			"testdata/runtests/fail/gate_test.rego:10:",
			"data.ferry.promotion_test.test_expects_a_denial_that_does_not_come: FAIL",
			"PASS: 1/2",
			"FAIL: 1/2",
		}},
		{name: "built-in error fails the test", dir: "builtin-error", code: TestsFailed, out: []string{
			"test_bad_timestamp: ERROR", "next monday", "ERROR: 1/1",
		}},
		{name: "syntax error", dir: "broken", code: TestsBroken, err: []string{
			"testdata/runtests/broken/gate.rego:4:9:", "rego_parse_error",
		}},
		{name: "typo caught by the schema", dir: "typo", code: TestsBroken, err: []string{
			"testdata/runtests/typo/gate.rego:4:6:", "undefined ref: input.evidence.trivvy", `want (one of): ["analysis"`,
		}},
		{name: "network built-in", dir: "network", code: TestsBroken, err: []string{
			"testdata/runtests/network/gate.rego:4:", "http.send is disabled",
		}},
		{name: "no tests", dir: "no-tests", code: TestsPassed, out: []string{"no tests (*_test.rego) in testdata/runtests/no-tests"}},
		// The directory must load as the agent loads it, tests or not.
		{name: "syntax error without tests", dir: "broken-no-tests", code: TestsBroken, err: []string{
			"testdata/runtests/broken-no-tests/gate.rego:4:9:", "rego_parse_error",
		}},
		{name: "passing tests but nothing can deny", dir: "only-warn", code: TestsBroken, err: []string{
			"no `deny contains msg` rule in package ferry.promotion",
		}},
		{name: "passing tests but broken data", dir: "bad-data", code: TestsBroken, err: []string{
			"data file testdata/runtests/bad-data/data.json: line 3, column 1: unexpected end of JSON",
		}},
		{name: "tests see the data files", dir: "data", verbose: true, code: TestsPassed, out: []string{
			"test_blocklist_from_data_json: PASS", "test_team_from_data_yaml: PASS", "test_other_allowed: PASS", "PASS: 3/3",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := RunTests(context.Background(), os.DirFS("."), "testdata/runtests/"+tc.dir, tc.verbose, &out)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (error: %v)\n%s", code, tc.code, err, out.String())
			}
			inOrder(t, "report", out.String(), tc.out)
			if len(tc.err) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; report:\n%s", out.String())
			}
			if !errors.Is(err, ErrCompile) {
				t.Errorf("error %v does not wrap ErrCompile", err)
			}
			if out.Len() != 0 {
				t.Errorf("report written despite the compile error:\n%s", out.String())
			}
			inOrder(t, "error", err.Error(), tc.err)
		})
	}
}

// TestRunTestsDefaults runs the default policies' own Rego tests, the way
// `ferry policy test` runs a seeded fleet repo's.
func TestRunTestsDefaults(t *testing.T) {
	var out bytes.Buffer
	code, err := RunTests(context.Background(), Default, ".", true, &out)
	if err != nil || code != TestsPassed {
		t.Fatalf("exit %d, error %v\n%s", code, err, out.String())
	}
	// Verbose lists every test_ rule of every *_test.rego, each passing.
	rules := regexp.MustCompile(`(?m)^(test_\w+) if`)
	var want []string
	for name, data := range DefaultFiles() {
		if strings.HasSuffix(name, "_test.rego") {
			for _, m := range rules.FindAllSubmatch(data, -1) {
				want = append(want, string(m[1]))
			}
		}
	}
	if len(want) < 30 {
		t.Fatalf("found only %d test rules in the defaults", len(want))
	}
	for _, name := range want {
		if !strings.Contains(out.String(), "data.ferry.promotion_test."+name+": PASS") {
			t.Errorf("report lacks a PASS line for %s", name)
		}
	}
	if !strings.Contains(out.String(), fmt.Sprintf("PASS: %d/%d", len(want), len(want))) {
		t.Errorf("report lacks PASS: %d/%d:\n%s", len(want), len(want), out.String())
	}
}

// inOrder fails unless s holds each of want, in order.
func inOrder(t *testing.T, what, s string, want []string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(s[at:], w)
		if i < 0 {
			t.Errorf("%s lacks %q after offset %d:\n%s", what, w, at, s)
			return
		}
		at += i + len(w)
	}
}
