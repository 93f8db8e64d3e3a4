package gitstate

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

// edit is one change to a file's bytes.
type edit func([]byte) ([]byte, bool, error)

func addRejection(r Rejection) edit {
	return func(data []byte) ([]byte, bool, error) {
		out, err := AddRejection(data, r)
		return out, !bytes.Equal(out, data), err
	}
}

func removeRejection(app, version string) edit {
	return func(data []byte) ([]byte, bool, error) { return RemoveRejection(data, app, version) }
}

func addFreeze(f Freeze) edit {
	return func(data []byte) ([]byte, bool, error) {
		out, err := AddFreeze(data, f)
		return out, !bytes.Equal(out, data), err
	}
}

func removeFreeze(name string) edit {
	return func(data []byte) ([]byte, bool, error) { return RemoveFreeze(data, name) }
}

func removeForAlert(fp string) edit {
	return func(data []byte) ([]byte, bool, error) { return RemoveFreezesForAlert(data, fp) }
}

var (
	payments = Rejection{App: "payments", Version: "3.0.0", Digest: digest3, Env: "qa",
		Reason: "analysis failed: error_ratio 0.09 > 0.05\n(step 2)", At: date("2026-11-25T19:04:05.999Z"), By: "ferry"}
	nightly = Freeze{Name: "nightly", Apps: []string{"checkout", "cart"}, Reason: "backups: #ops",
		Schedule: "30 23 * * *", Duration: 90 * time.Minute, Timezone: "Europe/Paris"}
)

// TestEdits: each edit turns testdata/edit/<before> into the golden
// <name>.after.yaml, or leaves it byte for byte when changed is false.
func TestEdits(t *testing.T) {
	weekend := Freeze{Name: "weekend", Envs: []string{"prod"}, Reason: "no prod changes at the weekend",
		Schedule: "0 18 * * FRI", Duration: 64 * time.Hour, Timezone: "Europe/Paris"}
	for _, tc := range []struct {
		name, before string
		do           edit
		changed      bool
	}{
		{"rejected-add", "rejected", addRejection(payments), true},
		{"rejected-add-other-digest", "rejected", addRejection(Rejection{App: "checkout", Version: "1.4.2", Digest: digest1}), true},
		{"rejected-add-covered", "rejected", addRejection(Rejection{App: "cart", Version: "1.10", Digest: digest1, Reason: "again"}), false},
		{"rejected-add-same", "rejected", addRejection(Rejection{App: "cart", Version: "1.9.0"}), false},
		{"rejected-remove-first", "rejected", removeRejection("checkout", "1.4.2"), true},
		{"rejected-remove-middle", "rejected", removeRejection("cart", "1.10"), true},
		{"rejected-remove-last", "rejected", removeRejection("cart", "1.9.0"), true},
		{"rejected-remove-missing", "rejected", removeRejection("cart", "1.1"), false},
		{"rejected-remove-all-digests", "rejected-digests", removeRejection("checkout", "1.4.2"), true},
		{"rejected-remove-only", "rejected-one", removeRejection("checkout", "1.4.2"), true},
		{"rejected-compact-add", "rejected-compact", addRejection(Rejection{App: "cart", Version: "true"}), true},
		{"rejected-compact-remove", "rejected-compact", removeRejection("checkout", "1.4.2"), true},
		{"rejected-crlf-add", "rejected-crlf", addRejection(Rejection{App: "cart", Version: "2.0.0"}), true},
		{"rejected-flow-add", "rejected-flow", addRejection(Rejection{App: "cart", Version: "2.0.0"}), true},
		{"rejected-empty-list-add", "rejected-empty-list", addRejection(payments), true},
		{"rejected-no-key-add", "rejected-no-key", addRejection(payments), true},
		{"rejected-comments-only-add", "rejected-comments-only", addRejection(payments), true},
		{"rejected-empty-add", "empty", addRejection(payments), true},
		{"rejected-empty-remove", "empty", removeRejection("checkout", "1.4.2"), false},
		{"rejected-no-final-newline-add", "rejected-no-final-newline", addRejection(Rejection{App: "cart", Version: "2.0.0"}), true},
		{"rejected-odd-add", "rejected-odd", addRejection(Rejection{App: "cart", Version: "2.0.1"}), true},
		{"rejected-odd-remove-first", "rejected-odd", removeRejection("checkout", "1.4.2"), true},
		{"rejected-odd-remove-middle", "rejected-odd", removeRejection("cart", "2.0.0"), true},
		{"rejected-odd-remove-last", "rejected-odd", removeRejection("search", "0.1.0"), true},
		{"freeze-add", "freeze", addFreeze(nightly), true},
		{"freeze-replace", "freeze", addFreeze(weekend), true},
		{"freeze-add-same", "freeze", addFreeze(Freeze{Name: "incident-1234", Envs: []string{"prod"},
			Reason: "rollback of checkout 1.4.2: alert HighErrorRate", Resolved: true, Alert: "8f3c2a1b9d0e7f65"}), false},
		{"freeze-remove", "freeze", removeFreeze("black-friday"), true},
		{"freeze-remove-missing", "freeze", removeFreeze("christmas"), false},
		{"freeze-remove-alert", "freeze", removeForAlert("8f3c2a1b9d0e7f65"), true},
		{"freeze-empty-add", "empty", addFreeze(Freeze{Name: "incident-9", Reason: "rollback", Resolved: true, Alert: "cafe"}), true},
		{"freeze-block-scalar-remove", "freeze-block-scalar", removeFreeze("audit"), true},
		{"freeze-block-scalar-remove-alert", "freeze-block-scalar", removeForAlert("aaaa"), true},
		{"freeze-block-scalar-replace", "freeze-block-scalar", addFreeze(Freeze{Name: "audit", Reason: "shorter",
			From: date("2026-12-20T00:00:00Z"), Until: date("2027-01-02T00:00:00+01:00")}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readFile(t, filepath.Join("edit", tc.before+".before.yaml"))
			orig := bytes.Clone(before)
			out, changed, err := tc.do(before)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, orig) {
				t.Fatal("the edit changed its input slice")
			}
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v; got:\n%s", changed, tc.changed, out)
			}
			if !tc.changed {
				if !bytes.Equal(out, before) {
					t.Fatalf("unchanged edit rewrote the file:\n%s", out)
				}
				return
			}
			golden(t, filepath.Join("edit", tc.name+".after.yaml"), out)
			// the same edit again changes nothing more
			again, changedAgain, err := tc.do(out)
			if err != nil || changedAgain || !bytes.Equal(again, out) {
				t.Errorf("repeating the edit: changed=%v err=%v\n%s", changedAgain, err, again)
			}
		})
	}
}

// TestEditsRoundTrip: an add then a remove gives back the file.
func TestEditsRoundTrip(t *testing.T) {
	for _, name := range []string{"rejected", "rejected-compact", "rejected-crlf", "rejected-digests", "rejected-no-key", "empty"} {
		before := readFile(t, filepath.Join("edit", name+".before.yaml"))
		added, err := AddRejection(before, payments)
		if err != nil {
			t.Fatal(err)
		}
		back, ok, err := RemoveRejection(added, payments.App, payments.Version)
		if err != nil || !ok {
			t.Fatalf("%s: remove: %v %v", name, ok, err)
		}
		rs, err := ParseRejections(name, back)
		if err != nil {
			t.Fatal(err)
		}
		if _, hit := rs.IsRejected(payments.App, payments.Version, ""); hit {
			t.Errorf("%s: still rejected after removal", name)
		}
		if name != "rejected-no-key" && name != "empty" && !bytes.Equal(back, before) {
			t.Errorf("%s: add+remove changed the file:\n%s", name, back)
		}
	}
}

func TestEditErrors(t *testing.T) {
	good := readFile(t, filepath.Join("edit", "freeze.before.yaml"))
	for _, tc := range []struct {
		name string
		do   func() error
		want string
	}{
		{"bad app", func() error { _, err := AddRejection(nil, Rejection{App: "Shop", Version: "1"}); return err }, `app: "Shop" must be`},
		{"no version", func() error { _, err := AddRejection(nil, Rejection{App: "shop"}); return err }, "version: required"},
		{"bad digest", func() error {
			_, err := AddRejection(nil, Rejection{App: "shop", Version: "1", Digest: "md5:x"})
			return err
		}, "digest:"},
		{"not UTF-8", func() error {
			_, err := AddRejection(nil, Rejection{App: "shop", Version: "1", Reason: "\xff"})
			return err
		}, "reason: not valid UTF-8"},
		{"broken file", func() error {
			_, err := AddRejection([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected: {\n"), payments)
			return err
		}, RejectionsFile + ":3:"},
		{"wrong kind", func() error { _, _, err := RemoveRejection(good, "cart", "1"); return err }, RejectionsFile + ":3:7: kind"},
		{"no window", func() error { _, err := AddFreeze(good, Freeze{Name: "x"}); return err }, `freeze "x": needs a window`},
		{"two windows", func() error {
			_, err := AddFreeze(good, Freeze{Name: "x", Resolved: true, Schedule: "@daily", Duration: time.Hour})
			return err
		}, "schedule: a scheduled window"},
		{"bad cron", func() error {
			_, err := AddFreeze(good, Freeze{Name: "x", Schedule: "@every 1h", Duration: time.Hour})
			return err
		}, "no fixed start times"},
		{"empty fingerprint", func() error { _, _, err := RemoveFreezesForAlert(good, ""); return err }, "empty fingerprint"},
		// A name from the command line is refused with the limit and echoed cut.
		{"long freeze name", func() error {
			_, err := AddFreeze(good, Freeze{Name: strings.Repeat("f", 10000), Resolved: true})
			return err
		}, `freeze "` + strings.Repeat("f", 39) + `…" (10000 characters): name: "` + strings.Repeat("f", 39) + `…" (10000 characters) is too long: a name is at most 63 characters (a DNS label)`},
		{"long app name", func() error {
			_, err := AddRejection(nil, Rejection{App: strings.Repeat("a", 5000), Version: "1"})
			return err
		}, `app: "` + strings.Repeat("a", 39) + `…" (5000 characters) is too long: a name is at most 63 characters`},
	} {
		err := tc.do()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
		if err != nil && len(err.Error()) > 1000 {
			t.Errorf("%s: error is %d bytes long: a value is echoed whole", tc.name, len(err.Error()))
		}
	}
}
