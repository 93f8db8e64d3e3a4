package policies

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// blockPolicy denies apps listed in data, at the root and per team.
const blockPolicy = `package ferry.promotion

deny contains "blocked" if input.app.name in data.blocklist

deny contains sprintf("blocked for team %s", [team]) if {
	some team, t in data.teams
	input.app.name in t.blocked
}

warn contains data.notice if data.notice
`

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return fsys
}

// TestPolicyData checks JSON and YAML files under the policy directory are
// data, namespaced by their directory as opa does, and decide.
func TestPolicyData(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		app   string
		deny  []string
		warn  []string
		data  []DataFile
	}{
		{
			name:  "data.json at the root",
			files: map[string]string{"p/data.json": `{"blocklist": ["legacy", "old"]}`},
			app:   "legacy",
			deny:  []string{"blocked"},
			data:  []DataFile{{"data.json", "data"}},
		},
		{
			name:  "data.yaml at the root",
			files: map[string]string{"p/data.yaml": "blocklist:\n  - legacy\n"},
			app:   "legacy",
			deny:  []string{"blocked"},
			data:  []DataFile{{"data.yaml", "data"}},
		},
		{
			name:  "not listed",
			files: map[string]string{"p/data.yaml": "blocklist: [legacy]\n"},
			app:   "checkout",
			data:  []DataFile{{"data.yaml", "data"}},
		},
		{
			name: "any name, .yml too, under the directory's path",
			files: map[string]string{
				"p/blocked.json":          `{"blocklist": ["a"]}`,
				"p/teams/shop/team.yml":   "blocked: [legacy]\n",
				"p/teams/pay/data.yaml":   "blocked: [billing]\n",
				"p/teams/pay/extra.json":  `{"owner": "pay"}`,
				"p/settings/x.yaml":       "ignored: true\n",
				"p/teams/pay/README.md":   "not data\n",
				"p/teams/shop/notes.txt":  "not data\n",
				"p/teams/shop/team.yaml~": "not data either\n",
			},
			app:  "legacy",
			deny: []string{"blocked for team shop"},
			data: []DataFile{{"blocked.json", "data"}, {"settings/x.yaml", "data.settings"},
				{"teams/pay/data.yaml", "data.teams.pay"}, {"teams/pay/extra.json", "data.teams.pay"},
				{"teams/shop/team.yml", "data.teams.shop"}},
		},
		{
			name: "two files add keys to one object",
			files: map[string]string{
				"p/a.json": `{"teams": {"shop": {"blocked": ["legacy"]}}}`,
				"p/b.yaml": "teams:\n  pay:\n    blocked: [billing]\nnotice: read the runbook\n",
			},
			app:  "billing",
			deny: []string{"blocked for team pay"},
			warn: []string{"read the runbook"},
			data: []DataFile{{"a.json", "data"}, {"b.yaml", "data"}},
		},
		{
			name:  "a directory name that is not an identifier",
			files: map[string]string{"p/my-team/data.json": `{"x": 1}`},
			app:   "a",
			data:  []DataFile{{"my-team/data.json", `data["my-team"]`}},
		},
		{
			name: "schemas, tests fixtures, hidden files are not data",
			files: map[string]string{
				"p/" + SchemaFile:                   `{"type": "object"}`,
				"p/lib/input.schema.json":           "not JSON and not read",
				"p/schemas/team.schema.json":        "not JSON and not read",
				"p/testdata/input.json":             "not JSON and not read",
				"p/teams/testdata/x.yaml":           "{not: [yaml",
				"p/.hidden.json":                    "not read",
				"p/.regal/config.yaml":              "not read",
				"p/data.json":                       `{"blocklist": ["legacy"]}`,
				"p/teams/shop/testdata/input.json":  "not read",
				"p/teams/shop/.data.yaml":           "not read",
				"p/teams/shop/data.json":            `{"blocked": []}`,
				"p/teams/shop/data_test.rego":       "package ferry.promotion_test\n\ntest_x if true\n",
				"p/teams/shop/input.schema.yaml.md": "not read",
			},
			app:  "legacy",
			deny: []string{"blocked"},
			data: []DataFile{{"data.json", "data"}, {"teams/shop/data.json", "data.teams.shop"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"p/p.rego": blockPolicy}
			for k, v := range tc.files {
				files[k] = v
			}
			e, err := Load(context.Background(), mapFS(files), "p")
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(context.Background(), map[string]any{"app": map[string]any{"name": tc.app}})
			if err != nil {
				t.Fatal(err)
			}
			want := Decision{Allow: len(tc.deny) == 0, Deny: orEmpty(tc.deny), Warn: orEmpty(tc.warn)}
			if !equalDecisions(d, want) || d.Allow != want.Allow {
				t.Errorf("got %+v, want %+v", d, want)
			}
			got, _ := json.Marshal(e.Data())
			wantData, _ := json.Marshal(tc.data)
			if string(got) != string(wantData) {
				t.Errorf("Data() = %s, want %s", got, wantData)
			}
			for _, f := range tc.data {
				if !contains(e.Files(), f.File) {
					t.Errorf("Files() = %v lacks %s", e.Files(), f.File)
				}
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPolicyDataErrors checks bad data stops the load with the file, the
// line and the reason, and that files never silently overwrite each other
// or a rule.
func TestPolicyDataErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"JSON syntax", map[string]string{"p/data.json": "{\n  \"blocklist\": [\"a\",]\n}\n"},
			[]string{"data file p/data.json: line 2, column 21: invalid character ']'"}},
		{"JSON truncated", map[string]string{"p/teams/data.json": `{"a": [1, 2`},
			[]string{"data file p/teams/data.json: line 1, column 12: unexpected end of JSON"}},
		{"JSON trailing data", map[string]string{"p/data.json": "{}\n{}\n"},
			[]string{"data file p/data.json: line 2, column 1: more data after the JSON value"}},
		{"JSON empty", map[string]string{"p/data.json": ""},
			[]string{"data file p/data.json: empty document"}},
		{"YAML syntax", map[string]string{"p/teams/data.yaml": "blocked:\n  - a\n b: [\n"},
			[]string{"data file p/teams/data.yaml: yaml: line 2: did not find expected key"}},
		{"YAML tab indentation", map[string]string{"p/data.yml": "a:\n\t- b\n"},
			[]string{"data file p/data.yml: yaml: line 2: found character that cannot start any token"}},
		{"root document not an object", map[string]string{"p/data.json": `["legacy"]`},
			[]string{"data file p/data.json: holds an array; a data file at the top of the policy directory must hold an object"}},
		{"empty YAML at the root", map[string]string{"p/data.yaml": "# nothing yet\n"},
			[]string{"data file p/data.yaml: holds null"}},
		{"two files set one value", map[string]string{
			"p/a.json":          `{"teams": {"shop": {"blocked": ["x"]}}}`,
			"p/teams/data.yaml": "shop:\n  blocked: [y]\n"},
			[]string{"data file p/teams/data.yaml sets data.teams.shop.blocked, which p/a.json sets too: data files must not overlap"}},
		{"an object and a value collide", map[string]string{
			"p/a.json":      `{"teams": "none"}`,
			"p/teams/x.yml": "shop: {}\n"},
			[]string{"data file p/teams/x.yml sets data.teams, which p/a.json sets too"}},
		{"equal values still collide, as in opa", map[string]string{
			"p/a.json": `{"blocklist": ["x"]}`,
			"p/b.json": `{"blocklist": ["x"]}`},
			[]string{"data file p/b.json sets data.blocklist, which p/a.json sets too"}},
		{"data where a rule is", map[string]string{
			"p/ferry/data.json": `{"promotion": {"env": "qa"}}`},
			[]string{"rule data.ferry.promotion.env conflicts with data from p/ferry/data.json"}},
		{"data above a rule", map[string]string{
			"p/data.yaml": "ferry: 1\n"},
			[]string{"rule data.ferry.promotion.", "conflicts with data from p/data.yaml"}},
		{"denials written as data", map[string]string{
			"p/ferry/promotion/data.json": `{"deny_extra": ["blocked by data"]}`},
			[]string{"data file p/ferry/promotion/data.json sets data.ferry.promotion.deny_extra, a decision rule's name: write denials and warnings as rules"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"p/p.rego": blockPolicy + "\nenv := input.environment.name\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			e, err := Load(context.Background(), mapFS(files), "p")
			if err == nil {
				t.Fatalf("loaded %v, want an error", e.Files())
			}
			if !errors.Is(err, ErrCompile) {
				t.Errorf("error %v does not wrap ErrCompile", err)
			}
			inOrder(t, "error", err.Error(), tc.want)
		})
	}
}

// TestPolicyDataNoPolicies checks data is read (and checked) even when the
// directory has no policy yet: a broken file is not hidden until one comes.
func TestPolicyDataNoPolicies(t *testing.T) {
	// Data alone is no policy: refused (TestNoPolicyRefused), broken or not.
	for _, data := range []string{`{"a": 1}`, `{"a": `} {
		if _, err := Load(context.Background(), mapFS(map[string]string{"p/data.json": data}), "p"); !errors.Is(err, ErrCompile) {
			t.Fatalf("data %s without policies: %v; want a compile error", data, err)
		}
	}
}

// TestPolicyDataHash checks data is part of the bundle hash (the
// Ferry-Policy trailer): a new blocklist is a new policy.
func TestPolicyDataHash(t *testing.T) {
	hash := func(files map[string]string) string {
		t.Helper()
		all := map[string]string{"p/p.rego": blockPolicy}
		for k, v := range files {
			all[k] = v
		}
		e, err := Load(context.Background(), mapFS(all), "p")
		if err != nil {
			t.Fatal(err)
		}
		return e.Hash()
	}
	base := hash(map[string]string{"p/data.json": `{"blocklist": ["a"]}`})
	for name, files := range map[string]map[string]string{
		"no data":      {},
		"data edited":  {"p/data.json": `{"blocklist": ["a", "b"]}`},
		"data renamed": {"p/list.json": `{"blocklist": ["a"]}`},
		"data moved":   {"p/x/data.json": `{"blocklist": ["a"]}`},
	} {
		if got := hash(files); got == base {
			t.Errorf("%s: hash unchanged", name)
		}
	}
	if got := hash(map[string]string{"p/data.json": `{"blocklist": ["a"]}`, "p/testdata/x.json": "{}"}); got != base {
		t.Error("a testdata file changed the hash")
	}
}

// TestPolicyDataTypes checks values keep their JSON types (numbers exact,
// YAML booleans and numbers as opa reads them).
func TestPolicyDataTypes(t *testing.T) {
	policy := `package ferry.promotion

deny contains "limit" if data.limits.critical == 0
deny contains "big" if data.limits.big == 12345678901234567890
deny contains "flag" if data.flags.strict == true
deny contains "float" if data.limits.ratio == 0.25
`
	e, err := Load(context.Background(), mapFS(map[string]string{
		"p/p.rego":            policy,
		"p/limits/data.json":  `{"critical": 0, "big": 12345678901234567890, "ratio": 0.25}`,
		"p/flags/strict.yaml": "strict: true\n",
		"p/flags/unused.yaml": "other: yes\n",
		"p/" + SchemaFile:     `{"type": "object"}`,
	}), "p")
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(d.Deny, ","), "big,flag,float,limit"; got != want {
		t.Errorf("denials %s, want %s", got, want)
	}
}
