package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"", 5, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"abcd", 1, "…"},
		{"abcd", 0, ""},
		// A byte cut at 4 would split é (2 bytes) or 日 (3 bytes).
		{"héllo", 3, "hé…"},
		{"日本語テキスト", 4, "日本語…"},
		{"日本語", 3, "日本語"},
		{"🙂🙂🙂🙂", 2, "🙂…"},
		// Invalid bytes count as one rune each and stay as they are.
		{"a\xffbcd", 3, "a\xff…"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.s, tt.max); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

func TestTruncateBytes(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcdef", 5, "ab…"}, // … is 3 bytes
		{"abcdef", 2, ""},
		// 7 bytes leave 4 for text: "h" + "é" is 3, the next "l" fits.
		{"héllo wörld", 7, "hél…"},
		// 6 bytes leave 3: 日 fits, 本 (3 more) does not.
		{"日本語", 6, "日…"},
		{"日本語", 5, "…"},
		{"日本語", 9, "日本語"},
	}
	for _, tt := range tests {
		got := TruncateBytes(tt.s, tt.max)
		if got != tt.want {
			t.Errorf("TruncateBytes(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
		if len(got) > tt.max {
			t.Errorf("TruncateBytes(%q, %d) = %d bytes", tt.s, tt.max, len(got))
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"web", 63, `"web"`},
		{strings.Repeat("a", 10000), 8, `"aaaaaaa…" (10000 characters)`},
		{strings.Repeat("é", 70), 5, `"éééé…" (70 characters)`},
		{"a\nb", 8, `"a\nb"`},
	}
	for _, tt := range tests {
		if got := Quote(tt.s, tt.max); got != tt.want {
			t.Errorf("Quote(%.20q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
	}
}

// FuzzTruncate checks the promises for any input: valid UTF-8 stays valid,
// the limit holds, and what is kept is a prefix of the input.
func FuzzTruncate(f *testing.F) {
	for _, s := range []string{"", "abc", "héllo", "日本語テキスト", "🙂🙂", "a\xffb"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max &= 63 // small and never negative
		for _, c := range []struct {
			name  string
			got   string
			count func(string) int
		}{
			{"Truncate", Truncate(s, max), utf8.RuneCountInString},
			{"TruncateBytes", TruncateBytes(s, max), func(s string) int { return len(s) }},
		} {
			if utf8.ValidString(s) && !utf8.ValidString(c.got) {
				t.Errorf("%s(%q, %d) = %q: not valid UTF-8", c.name, s, max, c.got)
			}
			if c.count(c.got) > max {
				t.Errorf("%s(%q, %d) = %q: over the limit", c.name, s, max, c.got)
			}
			if c.got != s && !strings.HasPrefix(s, strings.TrimSuffix(c.got, Ellipsis)) {
				t.Errorf("%s(%q, %d) = %q: not a prefix", c.name, s, max, c.got)
			}
		}
	})
}
