package policies

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// TestRuleNames is conftest's rule-name table (policy/engine_test.go,
// TestIsWarning and TestIsFailure), plus helper names a policy commonly
// uses: each name is a failure, a warning or a free helper.
func TestRuleNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		want ruleKind
	}{
		// conftest's TestIsFailure
		{"", helperRule},
		{"deny", failureRule},
		{"violation", failureRule},
		{"denyXYZ", helperRule},
		{"violationXYZ", helperRule},
		{"deny_", helperRule},
		{"violation_", helperRule},
		{"deny_x", failureRule},
		{"violation_x", failureRule},
		{"deny_1", failureRule},
		{"violation_1", failureRule},
		{"deny_x_y_z", failureRule},
		{"violation_x_y_z", failureRule},
		// conftest's TestIsWarning
		{"warn", warningRule},
		{"warnXYZ", helperRule},
		{"warn_", helperRule},
		{"warn_x", warningRule},
		{"warn_1", warningRule},
		{"warn_x_y_z", warningRule},
		// issue 18's examples and helpers
		{"deny_critical", failureRule},
		{"violation_NAME", failureRule},
		{"warn_NAME", warningRule},
		{"denylist", helperRule},
		{"deny__x", helperRule}, // conftest's regex: each _ needs a letter or digit after it
		{"Deny", helperRule},
		{"warning", helperRule},
		{"violations", helperRule},
		{"allow", helperRule},
		{"env", helperRule},
	} {
		if got := kindOf(tc.name); got != tc.want {
			t.Errorf("kindOf(%q) = %d, want %d (0 helper, 1 failure, 2 warning)", tc.name, got, tc.want)
		}
	}
}

// TestConftestRules checks every conftest-named rule of package
// ferry.promotion decides: issue 18's deny_critical beside the bundle's
// deny, violation rules returning {msg: ...} objects, warn_NAME.
func TestConftestRules(t *testing.T) {
	const pkg = "package ferry.promotion\n\n"
	critical := map[string]any{
		"app":      map[string]any{"name": "checkout"},
		"evidence": map[string]any{"trivy": map[string]any{"summary": map[string]any{"CRITICAL": 1}}},
	}
	for _, tc := range []struct {
		name   string
		files  map[string]string
		input  map[string]any
		deny   []string
		warn   []string
		errors []string // substrings of Decide's error, in order
	}{
		{
			name: "deny_critical beside deny",
			files: map[string]string{"p.rego": pkg +
				"deny contains \"never\" if input.app.name == \"other\"\n\n" +
				"deny_critical contains msg if {\n\tn := input.evidence.trivy.summary.CRITICAL\n\tn > 0\n\tmsg := sprintf(\"%d CRITICAL\", [n])\n}\n"},
			input: critical,
			deny:  []string{"1 CRITICAL"},
			warn:  []string{},
		},
		{
			name: "violation with msg objects, metadata ignored",
			files: map[string]string{"p.rego": pkg +
				"violation contains {\"msg\": \"from violation\", \"severity\": \"high\"} if input.app\n" +
				"violation_team contains {\"msg\": \"from violation_team\"} if input.app\n"},
			input: critical,
			deny:  []string{"from violation", "from violation_team"},
			warn:  []string{},
		},
		{
			name: "warn_NAME and strings and objects together",
			files: map[string]string{"p.rego": pkg +
				"deny contains \"d\" if input.app\n" +
				"warn_old contains \"old\" if input.app\n" +
				"warn_x_y contains {\"msg\": \"obj\"} if input.app\n"},
			input: critical,
			deny:  []string{"d"},
			warn:  []string{"obj", "old"},
		},
		{
			name: "rules spread over files and declared from package ferry",
			files: map[string]string{
				"a.rego": pkg + "deny_a contains \"same\" if input.app\n",
				"b.rego": pkg + "deny_b contains \"same\" if input.app\ndeny_b contains \"b\" if input.app\n",
				"c.rego": "package ferry\n\npromotion.violation_c contains \"c\" if input.app\n",
			},
			input: critical,
			deny:  []string{"b", "c", "same"},
			warn:  []string{},
		},
		{
			name:  "helpers with similar names are not rules",
			files: map[string]string{"p.rego": pkg + "denylist := {\"checkout\"}\nwarning := \"w\"\ndeny__x := [\"not read\"]\n\ndeny contains \"listed\" if input.app.name in denylist\n"},
			input: critical,
			deny:  []string{"listed"},
			warn:  []string{},
		},
		{
			name:  "none fires",
			files: map[string]string{"p.rego": pkg + "deny_critical contains \"c\" if input.evidence.trivy.summary.CRITICAL > 5\nwarn_x contains \"w\" if false\n"},
			input: critical,
			deny:  []string{},
			warn:  []string{},
		},
		{
			name:  "empty message stays a denial",
			files: map[string]string{"p.rego": pkg + "violation contains {\"msg\": \"\"} if input.app\n"},
			input: critical,
			deny:  []string{"(empty message from data.ferry.promotion.violation)"},
			warn:  []string{},
		},
		{
			name:   "violation holding a number",
			files:  map[string]string{"p.rego": pkg + "violation_n contains 42 if input.app\n"},
			input:  critical,
			errors: []string{"data.ferry.promotion.violation_n holds 42", "want only strings or {\"msg\""},
		},
		{
			name:   "object without msg",
			files:  map[string]string{"p.rego": pkg + "deny contains {\"message\": \"x\"} if input.app\n"},
			input:  critical,
			errors: []string{"data.ferry.promotion.deny holds {\"message\":\"x\"}, an object without a string \"msg\""},
		},
		{
			name:   "msg not a string",
			files:  map[string]string{"p.rego": pkg + "violation contains {\"msg\": [\"x\"]} if input.app\n"},
			input:  critical,
			errors: []string{"data.ferry.promotion.violation holds {\"msg\":[\"x\"]}"},
		},
		{
			name:   "warning holding an array",
			files:  map[string]string{"p.rego": pkg + "deny contains \"d\" if false\nwarn_a contains [\"x\"] if input.app\n"},
			input:  critical,
			errors: []string{"data.ferry.promotion.warn_a holds [\"x\"]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tc.files {
				fsys["p/"+name] = &fstest.MapFile{Data: []byte(src)}
			}
			e, err := Load(context.Background(), fsys, "p")
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), tc.input)
			if len(tc.errors) > 0 {
				if err == nil {
					t.Fatalf("decision %+v, want an error", d)
				}
				if d.Allow {
					t.Errorf("Allow set alongside %v", err)
				}
				inOrder(t, "error", err.Error(), tc.errors)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Decision{Allow: len(tc.deny) == 0, Deny: tc.deny, Warn: tc.warn}
			if !equalDecisions(d, want) || d.Allow != want.Allow {
				t.Errorf("got %+v, want %+v", d, want)
			}
		})
	}
}

// TestConftestRuleShapes checks a decision rule that is not a set of
// messages is refused at load with its location, never skipped.
func TestConftestRuleShapes(t *testing.T) {
	const pkg = "package ferry.promotion\n\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"complete violation", map[string]string{"p.rego": pkg + "deny contains \"d\" if false\nviolation_x := [\"a\"]\n"},
			[]string{"p/p.rego:4:1:", "violation_x must be a set of messages", "violation_x contains msg if"}},
		{"object deny_NAME", map[string]string{"p.rego": pkg + "deny contains \"d\" if false\ndeny_x[\"k\"] := \"v\" if input.app\n"},
			[]string{"p/p.rego:4:1:", "deny_x must be a set of messages"}},
		{"nested ref head", map[string]string{"p.rego": pkg + "deny contains \"d\" if false\nwarn_x.sub contains \"v\" if input.app\n"},
			[]string{"p/p.rego:4:1:", "warn_x must be a set of messages"}},
		{"function", map[string]string{"p.rego": pkg + "deny contains \"d\" if false\ndeny_f(x) := x\n"},
			[]string{"p/p.rego:4:1:", "deny_f must be a set of messages"}},
		{"boolean deny_NAME", map[string]string{"p.rego": pkg + "deny contains \"d\" if false\ndeny_old if input.app\n"},
			[]string{"p/p.rego:4:1:", "deny_old must be a set of messages"}},
		{"package below a decision name", map[string]string{
			"p.rego": pkg + "deny contains \"d\" if false\n",
			"q.rego": "package ferry.promotion.violation_q\n\nx contains \"v\" if input.app\n"},
			[]string{"p/q.rego:3:1:", "violation_q must be a set of messages"}},
		{"only warnings", map[string]string{"p.rego": pkg + "warn_x contains \"w\" if input.app\n"},
			[]string{"no `deny contains msg` rule in package ferry.promotion (nor violation, deny_NAME or violation_NAME)"}},
		{"decision rules in another package only", map[string]string{"p.rego": "package main\n\ndeny contains \"d\" if input.app\n"},
			[]string{"p/p.rego:3:1:", `"deny" is named as a decision rule but is in package main, which ferry does not read`}},
		// Found by H12: conftest's one package per environment. With a
		// ferry.promotion rule beside it, the prod rule was never read.
		{"decision rule in a package below ferry.promotion", map[string]string{
			"p.rego":    pkg + "deny contains \"d\" if false\n",
			"prod.rego": "package ferry.promotion.prod\n\nimport rego.v1\n\ndeny contains \"frozen\" if input.environment.name == \"prod\"\n"},
			[]string{"p/prod.rego:5:1:", `"deny" is named as a decision rule but is in package ferry.promotion.prod`}},
		{"conftest's package main beside ferry.promotion", map[string]string{
			"p.rego": pkg + "deny contains \"d\" if false\n",
			"q.rego": "package main\n\nviolation_old contains \"v\" if input.app\nwarn contains \"w\" if input.app\n"},
			[]string{"p/q.rego:3:1:", `"violation_old" is named as a decision rule but is in package main`, "p/q.rego:4:1:", `"warn" is named`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tc.files {
				fsys["p/"+name] = &fstest.MapFile{Data: []byte(src)}
			}
			e, err := Load(context.Background(), fsys, "p")
			if err == nil {
				t.Fatalf("loaded (hash %s), want an error", e.Hash())
			}
			if !errors.Is(err, ErrCompile) {
				t.Errorf("error %v does not wrap ErrCompile", err)
			}
			inOrder(t, "error", err.Error(), tc.want)
		})
	}
}

// TestConftestRulesOnlyViolation checks a policy set whose only failure
// rule is violation loads: any failure name satisfies the check that
// something can deny.
func TestConftestRulesOnlyViolation(t *testing.T) {
	fsys := fstest.MapFS{"p/p.rego": {Data: []byte("package ferry.promotion\n\nviolation contains {\"msg\": \"v\"} if input.app.name == \"x\"\n")}}
	e, err := Load(context.Background(), fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), map[string]any{"app": map[string]any{"name": "x"}})
	if err != nil || d.Allow || strings.Join(d.Deny, ",") != "v" {
		t.Fatalf("got %+v, %v; want a denial from violation", d, err)
	}
}

// TestDecisionRulesElsewhereThatLoad: what strayDecisionRules leaves alone,
// a library package of helpers, a decision rule declared from package
// ferry, and tests, loads; the library's denials count once used.
func TestDecisionRulesElsewhereThatLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"p/lib.rego":    {Data: []byte("package lib.checks\n\ndenials contains \"from lib\" if input.app.name == \"x\"\n")},
		"p/p.rego":      {Data: []byte("package ferry\n\npromotion.deny contains msg if some msg in data.lib.checks.denials\n")},
		"p/p_test.rego": {Data: []byte("package ferry.promotion_test\n\nimport data.ferry.promotion\n\ndeny_fixture := {\"a\"}\n\ntest_lib if promotion.deny == {\"from lib\"} with input as {\"app\": {\"name\": \"x\"}}\n")},
	}
	e, err := Load(context.Background(), fsys, "p")
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), map[string]any{"app": map[string]any{"name": "x"}})
	if err != nil || d.Allow || strings.Join(d.Deny, ",") != "from lib" {
		t.Fatalf("got %+v, %v; want the library's denial", d, err)
	}
}
