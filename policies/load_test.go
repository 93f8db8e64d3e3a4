package policies

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func schemaBytes(t testing.TB) []byte {
	t.Helper()
	b, err := Default.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadErrors(t *testing.T) {
	schema := schemaBytes(t)
	const pkg = "package ferry.promotion\n\n"
	for _, tc := range []struct {
		name    string
		files   map[string]string
		compile bool     // wraps ErrCompile
		want    []string // substrings of the error, in order
	}{
		{
			name:    "syntax error names file line and column",
			files:   map[string]string{"qa.rego": pkg + "deny contains msg if {\n\tmsg := := \"x\"\n}\n"},
			compile: true,
			want:    []string{"policies/qa.rego:4:9:", "rego_parse_error"},
		},
		{
			name: "typo caught by the input schema",
			files: map[string]string{
				"qa.rego":  pkg + "deny contains \"no scan\" if {\n\tnot input.evidence.trivvy\n}\n",
				SchemaFile: string(schema),
			},
			compile: true,
			want:    []string{"policies/qa.rego:4:6:", "undefined ref: input.evidence.trivvy"},
		},
		{
			name: "typo in a nested field caught by the input schema",
			files: map[string]string{
				"prod.rego": pkg + "deny contains f.id if {\n\tsome f in input.evidence.trivy.findings\n\tf.fixed_version != \"\"\n}\n",
				SchemaFile:  string(schema),
			},
			compile: true,
			want:    []string{"policies/prod.rego:5:2:", "undefined ref: f.fixed_version"},
		},
		{
			name:    "http.send refused",
			files:   map[string]string{"net.rego": pkg + "deny contains msg if {\n\tr := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1/\"})\n\tmsg := r.body\n}\n"},
			compile: true,
			want:    []string{"policies/net.rego:4:", "http.send is disabled: ferry policies may not reach the network or the runtime"},
		},
		{
			name:    "net.lookup_ip_addr refused",
			files:   map[string]string{"dns.rego": pkg + "deny contains \"dns\" if count(net.lookup_ip_addr(\"example.com\")) > 0\n"},
			compile: true,
			want:    []string{"policies/dns.rego:3:", "net.lookup_ip_addr is disabled"},
		},
		{
			name:    "opa.runtime refused (it exposes the agent's environment)",
			files:   map[string]string{"env.rego": pkg + "deny contains t if t := opa.runtime().env.FERRY_TOKEN\n"},
			compile: true,
			want:    []string{"policies/env.rego:3:", "opa.runtime is disabled"},
		},
		{
			name:    "strict mode rejects an unused variable",
			files:   map[string]string{"qa.rego": pkg + "deny contains \"x\" if {\n\tunused := input.app\n\tinput.app.name == \"x\"\n}\n"},
			compile: true,
			want:    []string{"policies/qa.rego:4:2:", "unused"},
		},
		{
			name:    "deny as a complete rule",
			files:   map[string]string{"qa.rego": pkg + "deny := [\"x\"] if input.app\n"},
			compile: true,
			want:    []string{"policies/qa.rego:3:1:", "deny must be a set of messages", "deny contains msg if"},
		},
		{
			name:    "warn as an object rule",
			files:   map[string]string{"qa.rego": pkg + "deny contains \"x\" if input.app\nwarn[\"k\"] := \"v\" if input.app\n"},
			compile: true,
			want:    []string{"policies/qa.rego:4:1:", "warn must be a set of messages"},
		},
		{
			name:    "no deny rule at all",
			files:   map[string]string{"lib.rego": "package ferry.lib\n\nx := 1\n"},
			compile: true,
			want:    []string{"no `deny contains msg` rule in package ferry.promotion"},
		},
		{
			name:    "only warn rules",
			files:   map[string]string{"warn.rego": pkg + "warn contains \"w\" if input.app\n"},
			compile: true,
			want:    []string{"no `deny contains msg` rule"},
		},
		{
			name:    "Rego v0 syntax",
			files:   map[string]string{"old.rego": pkg + "deny[msg] {\n\tmsg := \"x\"\n}\n"},
			compile: true,
			want:    []string{"policies/old.rego:3:"},
		},
		{
			name:    "schema not JSON",
			files:   map[string]string{"qa.rego": pkg + "deny contains \"x\" if input.app\n", SchemaFile: "{\n  \"type\": \"object\",\n}\n"},
			compile: true,
			want:    []string{"policies/input.schema.json: line 3, column 1"},
		},
		{
			name:    "schema not a JSON schema",
			files:   map[string]string{"qa.rego": pkg + "deny contains \"x\" if input.app\n", SchemaFile: `{"type": 12}`},
			compile: true,
			want:    []string{"policies/input.schema.json: unable to compile the schema"},
		},
		{
			name:    "schema reaching the network",
			files:   map[string]string{"qa.rego": pkg + "deny contains \"x\" if input.app\n", SchemaFile: `{"$ref": "http://127.0.0.1:1/s.json"}`},
			compile: true,
			want:    []string{"policies/input.schema.json:", "remote reference loading disabled"},
		},
		{
			name: "type mismatch against the schema shows both types",
			files: map[string]string{
				"qa.rego":  pkg + "deny contains \"x\" if input.evidence.trivy.summary.CRITICAL == \"many\"\n",
				SchemaFile: string(schema),
			},
			compile: true,
			want:    []string{"policies/qa.rego:3:", "match error", "number", "string"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, src := range tc.files {
				fsys["policies/"+name] = &fstest.MapFile{Data: []byte(src)}
			}
			e, err := Load(context.Background(), fsys, "policies")
			if err == nil {
				t.Fatalf("loaded (hash %s), want an error", e.Hash())
			}
			if errors.Is(err, ErrCompile) != tc.compile {
				t.Errorf("errors.Is(err, ErrCompile) = %v, want %v", !tc.compile, tc.compile)
			}
			inOrder(t, "error", err.Error(), tc.want)
		})
	}
}

// TestLoadNotADirectory checks a path to a file is refused, not read as
// "no policies".
func TestLoadNotADirectory(t *testing.T) {
	fsys := fstest.MapFS{"policies": {Data: []byte("package ferry.promotion\n")}}
	_, err := Load(context.Background(), fsys, "policies")
	if err == nil || !strings.Contains(err.Error(), "policies is a file, not a directory") {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(context.Background(), fsys, "../policies"); err == nil || !strings.Contains(err.Error(), "not a relative") {
		t.Fatalf("got %v for a path outside the tree", err)
	}
}

// TestLoadWalk checks which files Load reads: nested .rego files and the
// top-level schema; not tests, testdata, hidden directories or other files.
func TestLoadWalk(t *testing.T) {
	fsys := fstest.MapFS{
		"fleet/policies/main.rego":                {Data: []byte("package ferry.promotion\n\nimport data.ferry.lib\n\ndeny contains lib.msg if input.app.name == \"blocked\"\n")},
		"fleet/policies/lib/lib.rego":             {Data: []byte("package ferry.lib\n\nmsg := \"blocked app\"\n")},
		"fleet/policies/main_test.rego":           {Data: []byte("this is not Rego and would not parse")},
		"fleet/policies/testdata/broken.rego":     {Data: []byte("this is not Rego either")},
		"fleet/policies/.git/x.rego":              {Data: []byte("nor this")},
		"fleet/policies/README.md":                {Data: []byte("# policies\n")},
		"fleet/policies/lib/input.schema.json":    {Data: []byte("not a schema: only the top-level one is read")},
		"fleet/overlays/qa/kustomization.yaml":    {Data: []byte("kind: Kustomization\n")},
		"fleet/policies-old/ignored_sibling.rego": {Data: []byte("not read either")},
	}
	e, err := Load(context.Background(), fsys, "./fleet/policies/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(e.Files(), ","), "lib/lib.rego,main.rego"; got != want {
		t.Errorf("Files() = %s, want %s", got, want)
	}
	d, err := e.Decide(context.Background(), map[string]any{"app": map[string]any{"name": "blocked"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || len(d.Deny) != 1 || d.Deny[0] != "blocked app" {
		t.Errorf("got %+v, want a deny from the nested library", d)
	}
}

var hashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestHash(t *testing.T) {
	ctx := context.Background()
	base := func() fstest.MapFS {
		fs := fstest.MapFS{}
		for name, data := range DefaultFiles() {
			fs["policies/"+name] = &fstest.MapFile{Data: data}
		}
		return fs
	}
	hash := func(fsys fstest.MapFS, dir string) string {
		t.Helper()
		e, err := Load(ctx, fsys, dir)
		if err != nil {
			t.Fatal(err)
		}
		return e.Hash()
	}
	want := hash(base(), "policies")
	if !hashRE.MatchString(want) {
		t.Fatalf("hash %q is not sha256:<64 hex>", want)
	}
	same := map[string]func() (fstest.MapFS, string){
		"loaded again":      func() (fstest.MapFS, string) { return base(), "policies" },
		"embedded defaults": func() (fstest.MapFS, string) { return nil, "" },
		"under another directory": func() (fstest.MapFS, string) {
			fs := fstest.MapFS{}
			for name, f := range base() {
				fs["repo/gates/"+strings.TrimPrefix(name, "policies/")] = f
			}
			return fs, "repo/gates"
		},
		"a test changed": func() (fstest.MapFS, string) {
			fs := base()
			fs["policies/qa_test.rego"] = &fstest.MapFile{Data: []byte("package ferry.promotion_test\n")}
			return fs, "policies"
		},
		"a README added": func() (fstest.MapFS, string) {
			fs := base()
			fs["policies/README.md"] = &fstest.MapFile{Data: []byte("hello")}
			return fs, "policies"
		},
	}
	for name, mk := range same {
		t.Run("same/"+name, func(t *testing.T) {
			fsys, dir := mk()
			var got string
			if fsys == nil {
				e, err := Load(ctx, Default, ".")
				if err != nil {
					t.Fatal(err)
				}
				got = e.Hash()
			} else {
				got = hash(fsys, dir)
			}
			if got != want {
				t.Errorf("hash %s, want %s", got, want)
			}
		})
	}
	different := map[string]func() fstest.MapFS{
		"a policy edited": func() fstest.MapFS {
			fs := base()
			f := fs["policies/qa.rego"]
			fs["policies/qa.rego"] = &fstest.MapFile{Data: append(append([]byte{}, f.Data...), '\n')}
			return fs
		},
		"a policy renamed": func() fstest.MapFS {
			fs := base()
			fs["policies/qa2.rego"] = fs["policies/qa.rego"]
			delete(fs, "policies/qa.rego")
			return fs
		},
		"the schema edited": func() fstest.MapFS {
			fs := base()
			fs["policies/"+SchemaFile] = &fstest.MapFile{Data: append(append([]byte{}, fs["policies/"+SchemaFile].Data...), ' ')}
			return fs
		},
		"the schema removed": func() fstest.MapFS {
			fs := base()
			delete(fs, "policies/"+SchemaFile)
			return fs
		},
		// Moving bytes between a name and content must not collide.
		"content shifted into the name": func() fstest.MapFS {
			return fstest.MapFS{
				"policies/a.rego": {Data: []byte("package ferry.promotion\n\ndeny contains \"x\" if input.time\n")},
			}
		},
	}
	for name, mk := range different {
		t.Run("different/"+name, func(t *testing.T) {
			if got := hash(mk(), "policies"); got == want {
				t.Errorf("hash unchanged: %s", got)
			}
		})
	}
}

// TestDefaultFiles checks the embedded set is what `ferry demo` should seed:
// every default policy, its tests and the schema, and that these files as a
// tree on disk load to the same policies.
func TestDefaultFiles(t *testing.T) {
	files := DefaultFiles()
	for _, name := range []string{"common.rego", "qa.rego", "ppd.rego", "prod.rego", "dr.rego",
		"common_test.rego", "qa_test.rego", "ppd_test.rego", "prod_test.rego", "dr_test.rego", SchemaFile} {
		if len(files[name]) == 0 {
			t.Errorf("DefaultFiles lacks %s", name)
		}
	}
	onDisk, err := Load(context.Background(), os.DirFS("."), ".")
	if err != nil {
		t.Fatalf("load the policies directory from disk (testdata must be skipped): %v", err)
	}
	if got, want := onDisk.Hash(), defaultEngine(t).Hash(); got != want {
		t.Errorf("on-disk hash %s, embedded %s", got, want)
	}
}
