package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
)

// TestPrintPlanLongReasons: the table cuts a reason at 120 characters,
// and the whole reason follows the table, because a hold's way out (the
// command to run) and an error's cause are at its end. A denial's reasons
// are its deny lines already; a short reason is not repeated.
func TestPrintPlanLongReasons(t *testing.T) {
	v := func(tag string) ledger.Version { return ledger.Version{Tag: tag} }
	hold := "held: dev's verification of 1.2.0 was inconclusive (error-ratio: 1 consecutive measurement errors (limit 0): connection refused); `ferry retry-analysis checkout --env dev` or remove the note on 0123456789ab to run it again"
	deny := "the image has HIGH or CRITICAL vulnerabilities with a fix available: CVE-2026-0001 in openssl (fixed in 3.0.15); update and rebuild"
	plan := &agent.Plan{Commit: "0123456789abcdef0123456789abcdef01234567", Steps: []agent.Step{
		{App: "checkout", Env: "dev", From: "registry", Mode: "auto", Current: v("1.2.0"), Candidate: v("1.2.0"), Action: agent.ActionNone, Reason: "up to date"},
		{App: "checkout", Env: "qa", From: "dev", Mode: "auto", Current: v("1.1.0"), Candidate: v("1.2.0"), Action: agent.ActionHold, Reason: hold},
		{App: "cart", Env: "dev", From: "registry", Mode: "auto", Current: v("2.0.0"), Action: agent.ActionError,
			Reason: "registry 127.0.0.1:5000: list tags of shop/cart: Get \"https://127.0.0.1:5000/v2/shop/cart/tags/list\": dial tcp 127.0.0.1:5000: connect: connection refused"},
		{App: "cart", Env: "prod", From: "ppd", Mode: "auto", Current: v("1.0.0"), Candidate: v("2.0.0"), Action: agent.ActionDeny, Reason: "denied: " + deny,
			Decision: &agent.Decision{Deny: []string{deny}, Policy: "sha256:d5cf4a828e29227d", Evidence: []string{"soak ppd 3600s"}}},
		{App: "checkout", Env: "prod", From: "ppd", Mode: "auto", Current: v("1.0.0"), Candidate: v("1.1.0"), Action: agent.ActionHold, Reason: "held: " + strings.Repeat("a long reason ", 9) + "with a way out at its end",
			Decision: &agent.Decision{Allow: true, Warn: []string{"a warning"}, Policy: "sha256:d5cf4a828e29227d"}},
	}}
	var buf bytes.Buffer
	printPlan(&buf, plan)
	path := filepath.Join("testdata", "output", "plan-long-reasons.txt")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("printPlan:\n%s\nwant (%s):\n%s", buf.String(), path, want)
	}
	if !strings.Contains(buf.String(), "`ferry retry-analysis checkout --env dev`") {
		t.Errorf("the hold's way out is not printed:\n%s", buf.String())
	}
}

// TestCell: a table cell is one line of at most 120 characters, valid
// UTF-8 whatever the reason's language.
func TestCell(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"short", "up to date", "up to date"},
		{"120 characters", strings.Repeat("a", 120), strings.Repeat("a", 120)},
		{"121 characters", strings.Repeat("a", 121), strings.Repeat("a", 119) + "…"},
		{"accents across the cut", "refusé : " + strings.Repeat("é", 130), "refusé : " + strings.Repeat("é", 110) + "…"},
		{"a line break", "denied:\nfirst\nsecond", "denied: first second"},
	} {
		got := cell(tc.in)
		if got != tc.want || !utf8.ValidString(got) || utf8.RuneCountInString(got) > 120 {
			t.Errorf("%s: cell(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestPrintPlanSkippedTags: the tags an app's tag policy refused are
// listed under the app with their reasons, and the count of the rest; -o
// json carries the same under "skipped".
func TestPrintPlanSkippedTags(t *testing.T) {
	plan := &agent.Plan{Commit: "0123456789abcdef0123456789abcdef01234567",
		Steps: []agent.Step{{App: "checkout", Env: "dev", From: "registry", Mode: "auto", Current: ledger.Version{Tag: "1.0.0"}, Candidate: ledger.Version{Tag: "1.0.0"}, Action: agent.ActionNone, Reason: "up to date"}},
		Skipped: []agent.SkippedTags{{App: "checkout", More: 3, Tags: []registry.Skipped{
			{Tag: "1.9.9_build", Reason: "not a semantic version"},
			{Tag: "2.0.0-rc.1", Reason: "a pre-release"},
		}}}}
	var buf bytes.Buffer
	printPlan(&buf, plan)
	for _, want := range []string{
		"\ncheckout: tags skipped by its tag policy\n  skipped: 1.9.9_build: not a semantic version\n  skipped: 2.0.0-rc.1: a pre-release\n  skipped: 3 more\n",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("printPlan lacks %q:\n%s", want, buf.String())
		}
	}
	js, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"skipped":[{"app":"checkout","tags":[{"tag":"1.9.9_build","reason":"not a semantic version"},{"tag":"2.0.0-rc.1","reason":"a pre-release"}],"more":3}]`; !strings.Contains(string(js), want) {
		t.Errorf("json lacks %s:\n%s", want, js)
	}
}
