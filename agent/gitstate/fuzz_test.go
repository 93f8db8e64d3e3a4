package gitstate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// seed adds every testdata file whose name matches one of the patterns.
func seed(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, err := filepath.Glob(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// FuzzParseRejections: parsing never panics, and an accepted file takes a
// new rejection and gives it back: the entries after add then remove are
// the ones before, and removing an existing version removes just it.
func FuzzParseRejections(f *testing.F) {
	seed(f, "rejected.yaml", "errors/rejected-*.yaml", "edit/rejected*.yaml", "edit/empty.before.yaml")
	f.Add([]byte("!!map\n"))
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected:\n- {app: a, version: \"1\"}\n- app: b\n  version: 2 # c\n"))
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected:\n  - app: a\n    version: x\n    reason: >\n      folded\n\n      text\n  # tail\n"))
	fresh := Rejection{App: "zz-fuzz", Version: "9.9.9", Reason: "fuzz: \"quoted\"\tand\nlines", At: time.Unix(1e9, 0), By: "fuzz"}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseRejections("fuzz.yaml", data)
		if err != nil {
			if rs != nil {
				t.Fatal("value returned with an error")
			}
			return
		}
		if _, ok := rs.IsRejected(fresh.App, fresh.Version, ""); ok {
			return
		}
		added, err := AddRejection(data, fresh)
		if err != nil {
			t.Fatalf("add to an accepted file: %v", err)
		}
		after := mustRejections(t, added)
		if want := append(slices.Clone(rs.Rejected), fresh); !slices.EqualFunc(after, want, equalRejection) {
			t.Fatalf("after add: %+v\nwant %+v\n%s", after, want, added)
		}
		back, ok, err := RemoveRejection(added, fresh.App, fresh.Version)
		if err != nil || !ok {
			t.Fatalf("remove what was added: %v %v", ok, err)
		}
		if got := mustRejections(t, back); !slices.EqualFunc(got, rs.Rejected, equalRejection) {
			t.Fatalf("after add and remove: %+v\nwant %+v\n%s", got, rs.Rejected, back)
		}
		if len(rs.Rejected) == 0 {
			return
		}
		first := rs.Rejected[0]
		out, ok, err := RemoveRejection(data, first.App, first.Version)
		if err != nil || !ok {
			t.Fatalf("remove %s %s: %v %v", first.App, first.Version, ok, err)
		}
		want := slices.DeleteFunc(slices.Clone(rs.Rejected), func(r Rejection) bool { return r.App == first.App && r.Version == first.Version })
		if got := mustRejections(t, out); !slices.EqualFunc(got, want, equalRejection) {
			t.Fatalf("after removing the first: %+v\nwant %+v\n%s", got, want, out)
		}
	})
}

func mustRejections(t *testing.T, data []byte) []Rejection {
	t.Helper()
	rs, err := ParseRejections("edited.yaml", data)
	if err != nil {
		t.Fatalf("edited file does not parse: %v\n%s", err, data)
	}
	return rs.Rejected
}

// FuzzParseFreezes: parsing never panics, Active answers for any accepted
// file, and an accepted file takes a new freeze and gives it back.
func FuzzParseFreezes(f *testing.F) {
	seed(f, "freeze.yaml", "errors/freeze-*.yaml", "edit/freeze*.yaml", "edit/empty.before.yaml")
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n- {name: a, schedule: '*/5 * * * *', duration: 1h, timezone: Asia/Kolkata}\n"))
	f.Add([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n  - name: b\n    schedule: \"0 0 29 2 *\"\n    duration: 8784h\n"))
	fresh := Freeze{Name: "zz-fuzz", Envs: []string{"prod"}, Reason: "fuzz #1: [x]", Schedule: "0 18 * * FRI", Duration: 62 * time.Hour, Timezone: "Europe/Paris"}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseFreezes("fuzz.yaml", data)
		if err != nil {
			if fs != nil {
				t.Fatal("value returned with an error")
			}
			return
		}
		for _, at := range []string{"2026-03-29T01:30:00Z", "2026-11-28T12:00:00Z"} {
			for _, a := range fs.Active("checkout", "prod", date(at)) {
				if !a.Until.IsZero() && !a.Until.After(date(at)) {
					t.Fatalf("%s active at %s until %s", a.Name, at, a.Until)
				}
			}
		}
		if slices.ContainsFunc(fs.Freezes, func(e Freeze) bool { return e.Name == fresh.Name }) {
			return
		}
		added, err := AddFreeze(data, fresh)
		if err != nil {
			t.Fatalf("add to an accepted file: %v", err)
		}
		after := mustFreezes(t, added)
		if want := append(slices.Clone(fs.Freezes), fresh); !slices.EqualFunc(after, want, equalFreeze) {
			t.Fatalf("after add: %+v\nwant %+v\n%s", after, want, added)
		}
		back, ok, err := RemoveFreeze(added, fresh.Name)
		if err != nil || !ok {
			t.Fatalf("remove what was added: %v %v", ok, err)
		}
		if got := mustFreezes(t, back); !slices.EqualFunc(got, fs.Freezes, equalFreeze) {
			t.Fatalf("after add and remove: %+v\nwant %+v\n%s", got, fs.Freezes, back)
		}
		if len(fs.Freezes) == 0 {
			return
		}
		first := fs.Freezes[0]
		out, ok, err := RemoveFreeze(data, first.Name)
		if err != nil || !ok {
			t.Fatalf("remove %s: %v %v", first.Name, ok, err)
		}
		if got := mustFreezes(t, out); !slices.EqualFunc(got, fs.Freezes[1:], equalFreeze) {
			t.Fatalf("after removing the first: %+v\nwant %+v\n%s", got, fs.Freezes[1:], out)
		}
		if first.Alert != "" {
			if _, ok, err := RemoveFreezesForAlert(data, first.Alert); err != nil || !ok {
				t.Fatalf("remove for alert %q: %v %v", first.Alert, ok, err)
			}
		}
	})
}

func mustFreezes(t *testing.T, data []byte) []Freeze {
	t.Helper()
	fs, err := ParseFreezes("edited.yaml", data)
	if err != nil {
		t.Fatalf("edited file does not parse: %v\n%s", err, data)
	}
	return fs.Freezes
}
