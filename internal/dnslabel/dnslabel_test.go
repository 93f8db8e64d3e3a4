package dnslabel

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct{ name, want string }{
		{"checkout", ""},
		{"a", ""},
		{"shop-2", ""},
		{strings.Repeat("a", 63), ""},
		{"Web", `"Web" must be lower-case letters, digits and '-', at most 63 characters (a DNS label)`},
		{"-web", `"-web" must be lower-case letters, digits and '-', at most 63 characters (a DNS label)`},
		{"web-", `"web-" must be lower-case letters, digits and '-', at most 63 characters (a DNS label)`},
		{"wéb", `"wéb" must be lower-case letters, digits and '-', at most 63 characters (a DNS label)`},
		{strings.Repeat("a", 64), `"` + strings.Repeat("a", 39) + `…" (64 characters) is too long: a name is at most 63 characters (a DNS label)`},
		{strings.Repeat("a", 10000), `"` + strings.Repeat("a", 39) + `…" (10000 characters) is too long: a name is at most 63 characters (a DNS label)`},
		{strings.Repeat("日", 100), `"` + strings.Repeat("日", 39) + `…" (100 characters) is too long: a name is at most 63 characters (a DNS label)`},
	}
	for _, tt := range tests {
		if got := Check(tt.name); got != tt.want {
			t.Errorf("Check(%.20q) = %q, want %q", tt.name, got, tt.want)
		}
		if Valid(tt.name) != (tt.want == "") {
			t.Errorf("Valid(%.20q) = %v", tt.name, Valid(tt.name))
		}
	}
}
