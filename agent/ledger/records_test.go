package ledger

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// records are one of each kind, as ferry writes them; the golden file is
// the contract people's tools (and git log) read.
func records() []struct {
	name string
	rec  Record
} {
	started := time.Date(2026, 11, 25, 17, 59, 0, 0, time.UTC)
	gate := Gate{From: "dev", Created: "2026-11-25T17:00:00Z", Policy: "sha256:0f3a", Evidence: []string{"trivy referrer sha256:aa: CRITICAL=0 HIGH=2", "soak dev 1h0m0s"}}
	return []struct {
		name string
		rec  Record
	}{
		{"promotion", &Promotion{App: "checkout", Env: "qa", Version: Version{"1.4.2", "sha256:abc"}, Gate: gate}},
		{"promotion with warnings", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"},
			Gate: Gate{From: "ppd", Policy: "none", Warnings: []string{"candidate is older than what runs", "no sonar"}}}},
		{"signed promotion", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"},
			Gate: Gate{From: "ppd", Policy: "sha256:0f3a", SignedBy: []string{"cosign SHA256:nTq0bWkGfJ2c (keys/cosign.pub)", "notation CN=ci,O=example (CN=example root)"}}}},
		{"mirror", &Promotion{App: "checkout", Env: "dr", Version: Version{"1.4.2", "sha256:abc"}, Gate: Gate{From: "prod", Policy: "none"}}},
		{"delivery completed", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"}, Gate: Gate{From: "ppd", Policy: "none"}, Completed: "canary"}},
		{"canary step 0", &CanaryStep{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"}, Step: 0, Of: 4, Label: "deploy the canary",
			Gate: &Gate{From: "ppd", Policy: "sha256:0f3a"}}},
		{"canary step", &CanaryStep{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"}, Step: 2, Of: 4, Weight: 25,
			Label: "send 25% of traffic to the canary", Passed: "1/4"}},
		{"abort", &Abort{App: "checkout", Env: "prod", Canary: Version{Tag: "1.4.2"}, Stable: Version{Tag: "1.4.1"}, Step: "2/4",
			Reason: "analysis canary-judge failed at step 2/4: error-ratio\ttoo high", Rejects: true,
			Alert: AlertRef{Fingerprint: "6c8a3bd0c3f5ef2a", Started: started}}},
		{"rollback", &Rollback{App: "checkout", Env: "prod", To: Version{"1.4.1", "sha256:def"}, From: Version{Tag: "1.4.2"},
			Reason: "alert HighErrorRate firing for checkout in prod: error ratio above 5%", Mirrors: []string{"dr"},
			Alert: AlertRef{Fingerprint: "6c8a3bd0c3f5ef2a", Started: started}}},
		{"unfreeze after alert", &Unfreeze{Env: "prod", Alert: "HighErrorRate", Reason: "alert HighErrorRate (6c8a) resolved"}},
		{"unfreeze", &Unfreeze{Name: "black-friday"}},
		{"freeze", &Freeze{Name: "black-friday", Reason: "black friday"}},
		{"unreject", &Unreject{App: "checkout", Version: "1.4.2"}},
		{"approved promotion", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"},
			Gate: Gate{From: "ppd", Policy: "sha256:0f3a", ApprovedBy: []string{"bob (review, team:product-owners)", "carol (dashboard, user:carol)"}}}},
		{"proposal awaiting approval", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.2", "sha256:abc"},
			Gate: Gate{From: "ppd", Policy: "sha256:0f3a", Evidence: []string{"approvals 0 of 1"}, Awaiting: "approval 0 of 1 (needs team:product-owners)"}}},
		{"manual promotion", &Promotion{App: "checkout", Env: "prod", Version: Version{"1.4.3", "sha256:fed"},
			Gate: Gate{From: "manual", Policy: "sha256:0f3a"}, RequestedBy: Actor{Name: "alice", Via: ViaCLI}, Reason: "hotfix for the payment timeout"}},
		{"manual canary start", &CanaryStep{App: "checkout", Env: "prod", Version: Version{"1.4.3", "sha256:fed"}, Step: 0, Of: 4,
			Label: "deploy the canary", Gate: &Gate{From: "manual", Policy: "sha256:0f3a"}, RequestedBy: Actor{Name: "alice", Via: ViaCLI},
			Reason: "step 2 passed in staging"}},
		{"manual rollback", &Rollback{App: "checkout", Env: "prod", To: Version{"1.4.1", "sha256:def"}, From: Version{Tag: "1.4.2"},
			Reason: "checkout times out", RequestedBy: Actor{Name: "alice", Via: ViaDashboard}}},
		{"manual abort", &Abort{App: "checkout", Env: "prod", Canary: Version{Tag: "1.4.2"}, Stable: Version{Tag: "1.4.1"}, Step: "1/4",
			Reason: "aborted by alice: latency", Rejects: true, RequestedBy: Actor{Name: "alice", Via: ViaCLI}}},
		{"approval", &Approval{App: "checkout", Env: "prod", Version: "1.4.2", By: Actor{Name: "carol", Via: ViaDashboard}, Reason: "release notes reviewed"}},
		{"rejection", &Approval{App: "checkout", Env: "prod", Version: "1.4.2", By: Actor{Name: "dave", Via: ViaCLI}, Reject: true, Reason: "legal sign-off missing"}},
	}
}

func TestRecordsGolden(t *testing.T) {
	var b strings.Builder
	for _, r := range records() {
		b.WriteString("== " + r.name + "\n" + r.rec.Message().String())
	}
	path := filepath.Join("testdata", "records.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("messages differ from %s (go test -update to accept):\n%s", path, b.String())
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	for _, r := range records() {
		t.Run(r.name, func(t *testing.T) {
			msg := r.rec.Message()
			if err := msg.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := msg.Subject; got != r.rec.Subject() {
				t.Fatalf("Subject() %q, message subject %q", r.rec.Subject(), got)
			}
			back := Parse(msg.String())
			want := r.rec
			// Trailers are one line; the parsed reason is the folded one.
			switch w := want.(type) {
			case *Abort:
				c := *w
				c.Reason = OneLine(c.Reason)
				want = &c
			case *Rollback:
				c := *w
				c.From = Version{Tag: c.From.Tag}
				want = &c
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("Parse(Message()) =\n%#v\nwant\n%#v", back, want)
			}
		})
	}
}

func TestParsePeople(t *testing.T) {
	tests := []struct {
		msg  string
		want Record
	}{
		// A person's subject that looks like ferry's, without the trailers, is a change...
		{"promote checkout 9.9.9 to prod\n", &Change{Msg: Message{Subject: "promote checkout 9.9.9 to prod"}}},
		{"rollback checkout in prod to 1.0.0\n", &Change{Msg: Message{Subject: "rollback checkout in prod to 1.0.0"}}},
		// ...except an abort, whose words say what it did.
		{"abort canary of checkout 1.4.2 in prod\n", &Abort{App: "checkout", Canary: Version{Tag: "1.4.2"}, Env: "prod"}},
		{"abort canary of something else\n", &Change{Msg: Message{Subject: "abort canary of something else"}}},
		{"bump checkout by hand\n\nFerry-App: checkout\n", &Change{Msg: Message{Subject: "bump checkout by hand", Trailers: []Trailer{{"Ferry-App", "checkout"}}}}},
	}
	for _, tt := range tests {
		if got := Parse(tt.msg); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.msg, got, tt.want)
		}
	}
	if !(&Change{Msg: Message{Subject: `Revert "promote checkout 1.4.2 to prod"`}}).IsRevert() {
		t.Error("a git revert does not read as one")
	}
	if !(&Change{Msg: Message{Subject: "rollback checkout in prod to 1.0.0"}}).IsRollback() {
		t.Error("a person's rollback does not read as one")
	}
}

func TestVersionSame(t *testing.T) {
	pinned, bare, other := Version{"1.0.0", "sha256:a"}, Version{Tag: "1.0.0"}, Version{"1.0.0", "sha256:b"}
	tests := []struct {
		a, b   Version
		moving bool
		want   bool
	}{
		{pinned, pinned, false, true},
		{pinned, bare, false, true}, // a person's tag-only pin is that version
		{bare, pinned, false, true},
		{pinned, other, false, false}, // the tag was re-pushed: another image
		{pinned, bare, true, false},   // a moving tag: the digest is the identity
		{bare, bare, true, true},
		{Version{}, Version{}, false, true},
		{Version{Digest: "sha256:a"}, Version{Digest: "sha256:b"}, false, false},
	}
	for _, tt := range tests {
		if got := tt.a.Same(tt.b, tt.moving); got != tt.want {
			t.Errorf("%v.Same(%v, moving=%v) = %v, want %v", tt.a, tt.b, tt.moving, got, tt.want)
		}
	}
}

func TestAlertEpisodes(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	a := AlertRef{Fingerprint: "f1", Started: t0}
	if !a.Answers(AlertRef{Fingerprint: "f1", Started: t0}) || !a.Answers(AlertRef{Fingerprint: "f1"}) {
		t.Error("the same episode is not answered")
	}
	if a.Answers(AlertRef{Fingerprint: "f1", Started: t0.Add(time.Hour)}) {
		t.Error("a new firing episode counts as answered")
	}
	if a.Answers(AlertRef{Fingerprint: "f2", Started: t0}) || (AlertRef{}).Answers(AlertRef{}) {
		t.Error("another alert counts as answered")
	}
}

func FuzzParse(f *testing.F) {
	for _, r := range records() {
		f.Add(r.rec.Message().String())
	}
	f.Add("abort canary of a b in c\n")
	f.Add("canary x 1 in y: step 9/2, z\n\nFerry-App: x\nFerry-Canary: 1\nFerry-Step: nope\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := Parse(s)
		if r == nil {
			t.Fatal("nil record")
		}
		// Whatever was read renders to a valid message that reads back as itself.
		msg := r.Message()
		if _, ok := r.(*Change); !ok {
			if err := msg.Validate(); err != nil {
				t.Fatalf("Parse(%q) renders an invalid message: %v", s, err)
			}
			if again := Parse(msg.String()); reflect.TypeOf(again) != reflect.TypeOf(r) {
				t.Fatalf("Parse(%q) is %T, its message reads back as %T", s, r, again)
			}
		}
	})
}

func TestVersionString(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		want string
	}{
		{Version{}, "(none)"},
		{Version{Tag: "1.0.0"}, "1.0.0"},
		{Version{Digest: "sha256:0123456789abcdef0123"}, "sha256:0123456789abcdef0123"},
		{Version{"latest", "sha256:0123456789abcdef0123"}, "latest@sha256:0123456789ab"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestCheckReason: one line of plain text passes (any script, punctuation);
// a newline, a tab, an escape or a DEL is refused, naming it.
func TestCheckReason(t *testing.T) {
	for _, ok := range []string{"", "hotfix for the payment timeout", "Zahlung hängt — p99 > 2s (ticket #42)"} {
		if err := CheckReason(ok); err != nil {
			t.Errorf("CheckReason(%q) = %v", ok, err)
		}
	}
	for _, bad := range []struct{ in, want string }{
		{"hotfix\nFerry-Requested-By: mallory (cli)", "U+000A at byte 6"},
		{"a\tb", "U+0009"},
		{"red \x1b[31m", "U+001B"},
		{"x\x7f", "U+007F"},
		{"x\u0085", "U+0085"},
		{"ok\u200bok", "U+200B"}, // zero-width space
		{"a\u2028Ferry-Approved-By: x", "U+2028"},
		{"evil\u202etxt.exe", "U+202E"}, // bidi override
	} {
		if err := CheckReason(bad.in); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "one line of plain text") {
			t.Errorf("CheckReason(%q) = %v; want a refusal naming %s", bad.in, err, bad.want)
		}
	}
}
