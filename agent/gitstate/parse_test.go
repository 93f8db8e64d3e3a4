package gitstate

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata file name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseErrors: each testdata/errors file fails with the errors in its
// .err golden, every one located as file:line:col.
func TestParseErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data := readFile(t, filepath.Join("errors", name))
			source := "errors/" + name
			var got any
			switch {
			case strings.HasPrefix(name, "freeze-"):
				got, err = ParseFreezes(source, data)
			case strings.HasPrefix(name, "approvals-"):
				got, err = ParseApprovals(source, data)
			default:
				got, err = ParseRejections(source, data)
			}
			if err == nil {
				t.Fatalf("parsed without error: %+v", got)
			}
			if !reflect.ValueOf(got).IsNil() {
				t.Errorf("returned a value with the error: %+v", got)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, source+":") || strings.Count(line, ":") < 3 {
					t.Errorf("error line %q does not start with %s:line:col", line, source)
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Line == 0 {
				t.Errorf("error is not an *Error with a line: %#v", err)
			}
			golden(t, filepath.Join("errors", strings.TrimSuffix(name, ".yaml")+".err"), []byte(err.Error()+"\n"))
		})
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseRejections(t *testing.T) {
	rs, err := ParseRejections("rejected.yaml", readFile(t, "rejected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rejection{
		{App: "checkout", Version: "1.4.2", Digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Env: "prod", Reason: "alert HighErrorRate firing in prod", At: date("2026-11-25T18:00:00Z"), By: "ferry"},
		{App: "cart", Version: "1.10", Reason: "crashes on start:\nmissing config key\n", At: date("2026-11-20T08:30:00Z"), By: "jane"},
		{App: "cart", Version: "1.9.0"},
	}
	if rs.Source != "rejected.yaml" || len(rs.Rejected) != len(want) {
		t.Fatalf("got %+v", rs)
	}
	for i := range want {
		if !equalRejection(rs.Rejected[i], want[i]) {
			t.Errorf("rejected[%d] = %+v, want %+v", i, rs.Rejected[i], want[i])
		}
	}
}

func TestParseFreezes(t *testing.T) {
	fs, err := ParseFreezes("freeze.yaml", readFile(t, "freeze.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Freeze{
		{Name: "black-friday", Envs: []string{"prod", "dr"}, Apps: []string{"checkout"}, Reason: "black friday",
			From: date("2026-11-27T00:00:00Z"), Until: date("2026-11-30T00:00:00Z")},
		{Name: "weekend", Envs: []string{"prod"}, Reason: "no prod changes at the weekend",
			Schedule: "0 18 * * FRI", Duration: 62 * time.Hour, Timezone: "Europe/Paris"},
		{Name: "incident-1234", Envs: []string{"prod"}, Reason: "rollback of checkout 1.4.2: alert HighErrorRate",
			Resolved: true, Alert: "8f3c2a1b9d0e7f65"},
	}
	if fs.Source != "freeze.yaml" || len(fs.Freezes) != len(want) {
		t.Fatalf("got %+v", fs)
	}
	for i := range want {
		if !equalFreeze(fs.Freezes[i], want[i]) {
			t.Errorf("freezes[%d] = %+v, want %+v", i, fs.Freezes[i], want[i])
		}
	}
}

// TestParseEmpty: no file content, or only comments, is an empty set.
func TestParseEmpty(t *testing.T) {
	for _, data := range []string{"", "\n", "# nothing yet\n", "\xef\xbb\xbf", "---\n# c\n"} {
		rs, err := ParseRejections("r", []byte(data))
		if err != nil || len(rs.Rejected) != 0 {
			t.Errorf("ParseRejections(%q) = %+v, %v", data, rs, err)
		}
		fs, err := ParseFreezes("f", []byte(data))
		if err != nil || len(fs.Freezes) != 0 {
			t.Errorf("ParseFreezes(%q) = %+v, %v", data, fs, err)
		}
	}
	for _, data := range []string{"apiVersion: ferry.dev/v1alpha1\nkind: Rejections\n", "apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected:\n"} {
		rs, err := ParseRejections("r", []byte(data))
		if err != nil || len(rs.Rejected) != 0 {
			t.Errorf("ParseRejections(%q) = %+v, %v", data, rs, err)
		}
	}
}

func TestIsRejected(t *testing.T) {
	rs, err := ParseRejections("rejected.yaml", readFile(t, "rejected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	for _, tc := range []struct {
		app, version, digest string
		want                 bool
		reason               string
	}{
		{"checkout", "1.4.2", d, true, "alert HighErrorRate firing in prod"},
		{"checkout", "1.4.2", other, false, ""},                               // another build of 1.4.2
		{"checkout", "1.4.2", "", true, "alert HighErrorRate firing in prod"}, // digest unknown: refuse
		{"checkout", "1.4.3", d, false, ""},
		{"cart", "1.10", other, true, "crashes on start:\nmissing config key\n"},
		{"cart", "1.1", "", false, ""}, // 1.10 is text, not the number 1.1
		{"cart", "1.9.0", "", true, ""},
		{"payments", "1.4.2", d, false, ""},
	} {
		r, ok := rs.IsRejected(tc.app, tc.version, tc.digest)
		if ok != tc.want || r.Reason != tc.reason || (ok && (r.App != tc.app || r.Version != tc.version)) {
			t.Errorf("IsRejected(%s, %s, %.14s) = %+v, %v; want %v", tc.app, tc.version, tc.digest, r, ok, tc.want)
		}
	}
	var none *Rejections
	if _, ok := none.IsRejected("cart", "1.10", ""); ok {
		t.Error("nil Rejections rejects")
	}
	for _, tc := range []struct {
		app  string
		want []string
	}{{"checkout", []string{"1.4.2"}}, {"cart", []string{"1.10", "1.9.0"}}, {"payments", nil}} {
		if got := rs.Versions(tc.app); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Versions(%s) = %q, want %q", tc.app, got, tc.want)
		}
	}
	if got := none.Versions("cart"); got != nil {
		t.Errorf("nil Versions = %q", got)
	}
}
