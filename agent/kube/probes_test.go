package kube

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestOneLine checks that a long controller message is folded and cut
// between characters: a byte cut at 200 would split a 3-byte character.
func TestOneLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"folds whitespace", "health check\n  failed:\tDeployment", "health check failed: Deployment"},
		{"short", "ok", "ok"},
		{"long ASCII", strings.Repeat("a", 300), strings.Repeat("a", 199) + "…"},
		// A cut at byte 200 falls inside the 67th three-byte character.
		{"long multi-byte", strings.Repeat("日", 250), strings.Repeat("日", 199) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := oneLine(tt.in)
			if got != tt.want {
				t.Errorf("oneLine = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("oneLine = %q: not valid UTF-8", got)
			}
		})
	}
}
