package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestLoadGood loads every testdata/good config and compares the decoded
// pipeline, defaults filled in, and its environment order with a golden file.
func TestLoadGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/good/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if p.Source != file {
				t.Errorf("Source = %q, want %q", p.Source, file)
			}
			out, err := yaml.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, "# order: "+strings.Join(p.Order(), " ")+"\n"...)
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden", out)
		})
	}
}

// TestLoadBad checks the full error text of every testdata/bad config
// against testdata/errors/<name>.golden.
func TestLoadBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/bad/*.yaml")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			p, err := Load(file)
			if err == nil {
				t.Fatalf("Load accepted %s: %+v", file, p)
			}
			if p != nil {
				t.Errorf("Load returned a pipeline with an error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *config.Error: %T", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("error line does not start with %q: %s", file+":", line)
				}
			}
			golden(t, filepath.Join("testdata/errors", name+".golden"), []byte(err.Error()+"\n"))
		})
	}
}

// TestDesignExample keeps testdata/design.yaml identical to the
// ferry.yaml block of DESIGN.md, where the shared folder sits beside the repo.
func TestDesignExample(t *testing.T) {
	design, err := os.ReadFile("../../../shared/DESIGN.md")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("DESIGN.md not beside the repo")
	}
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(design), "### ferry.yaml")
	_, after, ok2 := strings.Cut(after, "```yaml\n")
	block, _, ok3 := strings.Cut(after, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no ferry.yaml block in DESIGN.md")
	}
	copied, err := os.ReadFile("testdata/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if block != string(copied) {
		t.Errorf("testdata/design.yaml differs from DESIGN.md's example; copy it again")
	}
	// The example names a canary analysis it does not define; that is the
	// one error it may give (testdata/good/design.yaml defines it).
	_, err = Parse("DESIGN.md", []byte(block))
	if errs := flatten(err); len(errs) != 1 || !strings.Contains(errs[0].Error(), `canary.analysis: unknown analysis "canary"`) {
		t.Errorf("DESIGN.md example: want only the undefined canary analysis, got %v", err)
	}
}

func TestErrorPositions(t *testing.T) {
	src := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: x}\napps:\n  - name: web\n    image: r.example/web\n    tags:\n      tagz: 1\n"
	_, err := Parse("ferry.yaml", []byte(src))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *config.Error", err)
	}
	want := Error{Source: "ferry.yaml", Line: 8, Column: 7, Path: "apps[0].tags", Message: `unknown field "tagz" in apps[0].tags`}
	if ce.Source != want.Source || ce.Line != want.Line || ce.Column != want.Column || ce.Path != want.Path || ce.Message != want.Message {
		t.Errorf("got %+v, want %+v", *ce, want)
	}
	if got := ce.Error(); got != `ferry.yaml:8:7: unknown field "tagz" in apps[0].tags` {
		t.Errorf("Error() = %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
	}
}

// TestSecretsStayOut: a password written into git.url never reaches an error.
func TestSecretsStayOut(t *testing.T) {
	for _, url := range []string{
		"https://ferry:hunter2@git.example/fleet.git",
		"https://hunter2@git.example/fleet.git",
		"ssh://git:hunter2@git.example/fleet.git",
		"https://ferry:hunter2@git example/fleet.git",
		"https://ferry:hunter2@[::1/fleet.git",
	} {
		src := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: '" + url + "'}\n"
		_, err := Parse("ferry.yaml", []byte(src))
		if err == nil {
			t.Errorf("%s: accepted", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestParseAccepts covers inputs that are valid YAML for a Pipeline even
// though they look unusual.
func TestParseAccepts(t *testing.T) {
	const rest = "kind: Pipeline\ngit: {url: fleet}\n"
	tests := []struct{ name, src string }{
		{"UTF-8 BOM", "\xef\xbb\xbfapiVersion: ferry.dev/v1alpha1\n" + rest},
		{"explicit string tag", "apiVersion: !!str ferry.dev/v1alpha1\n" + rest},
		{"anchored header", "apiVersion: &v ferry.dev/v1alpha1\n" + rest},
		{"document markers", "---\napiVersion: ferry.dev/v1alpha1\n" + rest + "...\n"},
		{"numeric url is a local path", "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: 123}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("t.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if p.APIVersion != APIVersion || p.Git.URL == "" {
				t.Errorf("decoded %+v", p)
			}
		})
	}
}
