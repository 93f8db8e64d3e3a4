package registry

import (
	"regexp"
	"strings"
	"testing"
)

// tagGrammar is the OCI distribution spec's tag, as validTag must read it.
var tagGrammar = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

func TestValidTagIsTheGrammar(t *testing.T) {
	for _, tag := range []string{"", "1.0.0", "v1.2.3-rc.1", "_x", ".x", "-x", "a b", "a\n", "ü", "latest",
		"sha-abc1234", strings.Repeat("a", 128), strings.Repeat("a", 129), "1.0.0+build", "a/b", "A_Z.9-"} {
		if got, want := validTag(tag), tagGrammar.MatchString(tag); got != want {
			t.Errorf("validTag(%q) = %v, the grammar says %v", tag, got, want)
		}
	}
}

func FuzzValidTag(f *testing.F) {
	for _, s := range []string{"1.0.0", "-x", "latest", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		if got, want := validTag(tag), tagGrammar.MatchString(tag); got != want {
			t.Fatalf("validTag(%q) = %v, the grammar says %v", tag, got, want)
		}
	})
}
