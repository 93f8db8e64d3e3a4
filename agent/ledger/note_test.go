package ledger

import (
	"reflect"
	"strings"
	"testing"
)

func TestNoteHoldsEveryVerdict(t *testing.T) {
	qa := Verdict{App: "checkout", Env: "qa", Version: Version{"1.2.0", "sha256:aa"}, Analysis: "smoke", Verdict: Successful,
		Reason: "all 6 measurements passed", Explain: "error-ratio: 0.001 0.002\n---\nlatency: 0.1"}
	stage := Verdict{App: "checkout", Env: "stage", Version: Version{"1.2.0", "sha256:aa"}, Analysis: "kubernetes", Verdict: Failed,
		Reason: "Deployment shop/checkout: 1 of 3 replicas updated"}
	var n Note
	n = n.With(qa).With(stage)
	back := ParseNote(n.String())
	if len(back.Verdicts) != 2 {
		t.Fatalf("a note with two verdicts reads back with %d:\n%s", len(back.Verdicts), n)
	}
	if v, ok := back.For("checkout", "qa", "", Version{Tag: "1.2.0"}); !ok || v.Verdict != Successful {
		t.Fatalf("qa's verdict lost: %+v %v", v, ok)
	}
	if v, ok := back.For("checkout", "stage", "", Version{Tag: "1.2.0"}); !ok || v.Verdict != Failed || v.Analysis != "kubernetes" {
		t.Fatalf("stage's verdict lost: %+v %v", v, ok)
	}
	// A separator line inside an explanation does not split the block.
	if v, _ := back.For("checkout", "qa", "", Version{}); !strings.Contains(v.Explain, "latency") {
		t.Fatalf("explanation cut at a separator line: %q", v.Explain)
	}
	// A new verdict of the same run replaces the old one; others stay.
	again := back.With(Verdict{App: "checkout", Env: "qa", Version: Version{Tag: "1.2.0"}, Analysis: "smoke", Verdict: Failed, Reason: "rerun"})
	if v, _ := again.For("checkout", "qa", "", Version{}); v.Verdict != Failed || len(again.Verdicts) != 2 {
		t.Fatalf("replace: %+v", again)
	}
	if _, ok := back.For("checkout", "qa", "1/4", Version{}); ok {
		t.Fatal("a promotion's verdict answers for a canary step")
	}
	rest, removed := again.Without("checkout", "qa")
	if !removed || len(rest.Verdicts) != 1 || rest.Verdicts[0].Env != "stage" {
		t.Fatalf("Without: %+v %v", rest, removed)
	}
}

func TestParseNoteCompat(t *testing.T) {
	// The one-verdict note of earlier ferry versions, and a person's note.
	old := "analysis of checkout 1.1.0 in qa: Failed\n\nerror-ratio: 0.09\n\nFerry-App: checkout\nFerry-Env: qa\nFerry-Version: 1.1.0\nFerry-Analysis: smoke\nFerry-Verdict: Failed\nFerry-Reason: error ratio above 5%\n"
	n := ParseNote(old)
	want := Verdict{App: "checkout", Env: "qa", Version: Version{Tag: "1.1.0"}, Analysis: "smoke", Verdict: Failed, Reason: "error ratio above 5%", Explain: "error-ratio: 0.09"}
	if len(n.Verdicts) != 1 || !reflect.DeepEqual(n.Verdicts[0], want) {
		t.Fatalf("old note: %#v", n)
	}
	if p := ParseNote("looks fine to me\n\nReviewed-by: alice\n"); len(p.Verdicts) != 0 {
		t.Fatalf("a person's note read as a verdict: %#v", p)
	}
}

func FuzzParseNote(f *testing.F) {
	f.Add((Note{}).With(Verdict{App: "a", Env: "e", Version: Version{Tag: "1"}, Analysis: "x", Verdict: Successful}).String())
	f.Add("---\n---\nFerry-Verdict: Failed\n")
	f.Fuzz(func(t *testing.T, s string) {
		n := ParseNote(s)
		// What was read renders and reads back to the same verdicts (reasons folded).
		again := ParseNote(n.String())
		if len(again.Verdicts) != len(n.Verdicts) {
			t.Fatalf("ParseNote(%q): %d verdicts, rendered and read again %d", s, len(n.Verdicts), len(again.Verdicts))
		}
	})
}
