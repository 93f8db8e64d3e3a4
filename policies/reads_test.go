package policies

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The environments the inputs are decided in: the default tiers, an
// approval, a soak, a name no tier table knows.
var readEnvs = []map[string]any{
	{"name": "dev", "tier": "development"},
	{"name": "qa", "tier": "test", "from": "dev", "from_verifies": true},
	{"name": "ppd", "tier": "staging", "from": "qa", "from_verifies": false},
	{"name": "prod", "tier": "production", "from": "ppd", "from_verifies": true, "soak_seconds": 7200},
	{"name": "prod", "tier": "production", "from": "ppd", "from_verifies": true,
		"approval": map[string]any{"required": 2, "from": []any{"team:sre", "ann"}, "forbid_self": true, "expires_seconds": 0}},
	{"name": "dr", "tier": "dr", "from": "prod", "from_verifies": true},
	{"name": "uat", "tier": "staging", "from": "sit", "from_verifies": true},
}

// readInputs is every input fixture in every readEnvs environment,
// for two apps, with and without input.time, input.current, approvals
// and a person's request.
func readInputs(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, err := filepath.Glob("testdata/inputs/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no input fixtures: %v", err)
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, env := range readEnvs {
			for v, vary := range []func(in map[string]any){
				func(map[string]any) {},
				func(in map[string]any) {
					in["app"].(map[string]any)["name"] = "legacy-cart"
					in["request"] = map[string]any{"kind": "manual", "by": "ann", "via": "cli", "reason": "hotfix"}
					delete(in, "current")
				},
				func(in map[string]any) {
					delete(in, "time")
					ev, _ := in["evidence"].(map[string]any)
					if ev == nil {
						return
					}
					ev["approvals"] = map[string]any{"required": 2, "count": 1, "approved_by": []any{"ann"}, "rejected_by": []any{"bob"},
						"entries": []any{map[string]any{"by": "bob", "via": "cli", "decision": "reject", "counts": true, "reason": "not yet"}}}
				},
			} {
				var in map[string]any
				if err := json.Unmarshal(data, &in); err != nil {
					t.Fatal(err)
				}
				in["environment"] = maps.Clone(env)
				vary(in)
				out[strings.TrimSuffix(filepath.Base(f), ".json")+"/env"+string(rune('0'+i))+"/v"+string(rune('0'+v))] = in
			}
		}
	}
	return out
}

// readBundles are the policy directories the decisions are compared over:
// the default policies, the README's additions to them, conftest-style
// rules, rules that fail closed (a conflict, a built-in that fails), and
// rules that read input as a whole.
func readBundles() map[string]fstest.MapFS {
	defaults := func() fstest.MapFS {
		fsys := fstest.MapFS{}
		for name, data := range DefaultFiles() {
			fsys["p/"+name] = &fstest.MapFile{Data: data}
		}
		return fsys
	}
	readme := defaults()
	// README, "Policy gates" (data), "Evidence kinds" (the source scan)
	// and "Manual promotions" (a hotfix skipping the Trivy report).
	readme["p/data.yaml"] = &fstest.MapFile{Data: []byte("blocklist: [legacy-cart]\n")}
	readme["p/extra.rego"] = &fstest.MapFile{Data: []byte(`package ferry.promotion

deny contains "blocked" if input.app.name in data.blocklist

deny contains "no source scan" if { input.environment.tier == "test"; not input.evidence.trivy.fs }
`)}
	prod := string(DefaultFiles()["prod.rego"])
	hotfix := strings.Replace(prod, "deny contains no_trivy_report if {\n\tinput.environment.tier == \"production\"\n",
		"manual if input.request.kind == \"manual\"\n\ndeny contains no_trivy_report if {\n\tinput.environment.tier == \"production\"\n\tnot manual\n", 1)
	if hotfix == prod {
		panic("prod.rego's no_trivy_report rule moved: update the README example here")
	}
	readme["p/prod.rego"] = &fstest.MapFile{Data: []byte(hotfix)}

	return map[string]fstest.MapFS{
		"default": defaults(),
		"readme":  readme,
		"conftest": {"p/gate.rego": {Data: []byte(`package ferry.promotion

violation contains {"msg": sprintf("%s: no soak in %s", [input.app.name, input.environment.from]), "details": 1} if {
	input.environment.tier == "production"
	not input.evidence.soak
}

deny_critical contains msg if {
	input.environment.tier in {"test", "staging"}
	some f in input.evidence.trivy.findings
	f.severity == "CRITICAL"
	msg := f.id
}

violation_empty contains "" if input.environment.name == "dr"

warn_old contains sprintf("%s is frozen", [input.environment.name]) if count(object.get(input.evidence, "freeze", [])) > 0

warn contains "approval" if input.environment.approval.required > 1

deny contains "x" if false
`)}},
		"whole": {"p/gate.rego": {Data: []byte(`package ferry.promotion

deny contains sprintf("key %s", [k]) if {
	some k, _ in input
	input.environment.tier == "dr"
}

deny contains sprintf("%d keys", [count(input)]) if input.environment.tier == "development"

deny contains "request" if object.get(input, "request", {}).kind == "manual"
`)}},
		"tricky": {"p/gate.rego": {Data: []byte(`package ferry.promotion

import rego.v1

# Two definitions that disagree in prod: the generic query's conflict
# error must stay one.
pick := 1 if input.app.name == "checkout"

pick := 2 if input.environment.name == "prod"

deny contains sprintf("pick %v", [pick]) if input.environment.tier == "production"

# A complete rule with several values: a conflict too.
first := f.id if some f in input.evidence.trivy.findings

deny contains sprintf("first %s", [first]) if input.environment.tier == "staging"

# A built-in that fails (strict errors) before the environment check:
# indexed (the generic query skips the rule outside qa, too), and not.
deny contains "numeric app" if {
	to_number(input.app.name) > 0
	input.environment.name == "qa"
}

deny contains "numeric app outside prod" if {
	input.request.kind == "manual"
	to_number(input.app.name) > 0
	input.environment.name != "prod"
}

# Functions of the environment, else chains, every, with, negation.
gated(tier) if tier in {"production", "staging"}

level := "long" if input.evidence.soak.seconds > 3600
else := "tier" if input.environment.tier == "production"

deny contains sprintf("level %s", [level]) if gated(input.environment.tier)

deny contains "all high" if {
	input.environment.tier == "test"
	every f in input.evidence.trivy.findings {
		f.severity == "HIGH"
	}
}

envname := input.environment.name

deny contains "with" if {
	envname == "elsewhere" with input.environment.name as "elsewhere"
	input.app.name == "legacy-cart"
}

warn contains "no approval" if not input.environment.approval

warn contains msg if {
	some e in input.evidence.approvals.entries
	e.decision == "reject"
	msg := sprintf("%s rejects in %s", [e.by, input.environment.name])
}
`)}},
	}
}

// TestReadInputDecidesAsWhole decides every input of readInputs as the
// agent passes it (a map, of which Decide converts only what the policies
// read) and converted whole by OPA, over every bundle of readBundles: the
// same allow, denials and warnings (messages included), or the same error.
func TestReadInputDecidesAsWhole(t *testing.T) {
	ctx := context.Background()
	inputs := readInputs(t)
	for name, fsys := range readBundles() {
		t.Run(name, func(t *testing.T) {
			e, err := Load(ctx, fsys, "p")
			if err != nil {
				t.Fatal(err)
			}
			errs := 0
			for _, key := range slices.Sorted(maps.Keys(inputs)) {
				in := inputs[key]
				whole, err := ast.InterfaceToValue(in)
				if err != nil {
					t.Fatal(err)
				}
				want, wantErr := e.Decide(ctx, whole)
				got, err := e.Decide(ctx, in)
				if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
					t.Errorf("%s: read %v, whole %v", key, err, wantErr)
					continue
				}
				if err != nil {
					errs++
					continue
				}
				if !equalDecisions(got, want) {
					t.Errorf("%s: read\n  %+v\nwhole\n  %+v", key, got, want)
				}
			}
			t.Logf("%d inputs, %d errors in both", len(inputs), errs)
			switch name {
			case "tricky":
				if errs == 0 {
					t.Error("no input made the tricky rules fail: the fail-closed cases went untested")
				}
			case "whole":
				if !e.reads.all {
					t.Error("rules reading input whole, and not all of it is converted")
				}
			default:
				if e.reads.all {
					t.Error("all of the input is converted: nothing was left out to test")
				}
			}
		})
	}
}
