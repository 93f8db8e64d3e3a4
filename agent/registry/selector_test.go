package registry

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestSelect(t *testing.T) {
	garbage := []string{"latest", "main", "sha-deadbeef", "", "1.2.3.4", "v", "-", "1..2"}
	tests := []struct {
		name   string
		policy TagPolicy
		tags   []string
		want   string // "" means none allowed
	}{
		// semver
		{"semver newest", TagPolicy{Semver: ">=1.0.0"}, []string{"1.0.0", "1.10.0", "1.9.0", "0.9.0"}, "1.10.0"},
		{"semver range upper bound", TagPolicy{Semver: ">=1.0.0 <2.0.0"}, []string{"1.0.0", "1.4.2", "2.0.0"}, "1.4.2"},
		{"semver caret", TagPolicy{Semver: "^1.2"}, []string{"1.1.9", "1.2.0", "1.9.9", "2.0.0"}, "1.9.9"},
		{"semver tilde", TagPolicy{Semver: "~1.2"}, []string{"1.2.0", "1.2.7", "1.3.0"}, "1.2.7"},
		{"semver excludes pre-releases", TagPolicy{Semver: ">=1.0.0"}, []string{"1.0.0", "1.1.0-rc.1", "2.0.0-alpha"}, "1.0.0"},
		{"semver star excludes pre-releases", TagPolicy{Semver: "*"}, []string{"1.0.0", "1.1.0-rc.1"}, "1.0.0"},
		{"semver constraint naming a pre-release", TagPolicy{Semver: ">=1.1.0-0"}, []string{"1.0.0", "1.1.0-rc.1", "1.1.0-rc.2"}, "1.1.0-rc.2"},
		{"semver release beats its pre-release", TagPolicy{Semver: ">=1.1.0-0"}, []string{"1.1.0-rc.2", "1.1.0"}, "1.1.0"},
		{"semver pre-release only in that OR group", TagPolicy{Semver: ">=2.0.0-0 <3.0.0 || ^1.0.0"}, []string{"1.5.0", "1.6.0-rc.1", "2.0.0-beta.1"}, "2.0.0-beta.1"},
		{"semver pre-release not in the other OR group", TagPolicy{Semver: ">=2.0.0-0 <3.0.0 || ^1.0.0"}, []string{"1.5.0", "1.6.0-rc.1"}, "1.5.0"},
		{"semver v prefix", TagPolicy{Semver: ">=1.0.0"}, []string{"v1.2.3", "v1.10.0", "1.9.0"}, "v1.10.0"},
		{"semver garbage ignored", TagPolicy{Semver: ">=0.0.0"}, append([]string{"0.1.0"}, garbage...), "0.1.0"},
		{"semver nothing allowed", TagPolicy{Semver: ">=3.0.0"}, []string{"1.0.0", "2.9.9", "latest"}, ""},
		{"semver tie prefers longer", TagPolicy{Semver: ">=1.0.0"}, []string{"1.0.0", "1.0"}, "1.0.0"},
		{"semver tie prefers v prefix (longer)", TagPolicy{Semver: ">=1.0.0"}, []string{"v1.0.0", "1.0.0"}, "v1.0.0"},
		{"semver tie on build metadata is lexical", TagPolicy{Semver: ">=1.0.0"}, []string{"1.0.0+b", "1.0.0+a"}, "1.0.0+b"},
		{"semver date-like tag is a major version", TagPolicy{Semver: ">=1.0.0"}, []string{"1.2.0", "20240101"}, "20240101"},
		{"semver date-like tag bounded out", TagPolicy{Semver: ">=1.0.0 <1000"}, []string{"1.2.0", "20240101"}, "1.2.0"},
		{"semver empty list", TagPolicy{Semver: ">=1.0.0"}, nil, ""},
		// regex, numerical
		{"regex numerical beats lexical", TagPolicy{Regex: `^main-(\d+)$`}, []string{"main-9", "main-10", "main-2"}, "main-10"},
		{"regex numerical explicit", TagPolicy{Regex: `^main-(\d+)$`, Order: "numerical"}, []string{"main-9", "main-10"}, "main-10"},
		{"regex named version group", TagPolicy{Regex: `^(?P<branch>[a-z]+)-(?P<version>\d+)$`}, []string{"zzz-1", "aaa-7"}, "aaa-7"},
		{"regex first named group", TagPolicy{Regex: `^([a-z]+)-(?P<build>\d+)$`}, []string{"zzz-1", "aaa-7"}, "aaa-7"},
		{"regex first group", TagPolicy{Regex: `^build-(\d+)-(\w+)$`}, []string{"build-3-zz", "build-12-aa"}, "build-12-aa"},
		{"regex whole match", TagPolicy{Regex: `^\d+$`}, []string{"99", "100", "main"}, "100"},
		{"regex unanchored", TagPolicy{Regex: `(\d+)$`}, []string{"release-7", "x5", "nodigits"}, "release-7"},
		{"regex decimals", TagPolicy{Regex: `^r(\d+\.\d+)$`}, []string{"r1.5", "r1.25", "r1.10"}, "r1.5"},
		{"regex huge numbers exact", TagPolicy{Regex: `^n(\d+)$`}, []string{"n123456789012345678901234567890", "n123456789012345678901234567891"}, "n123456789012345678901234567891"},
		{"regex non-numeric capture skipped", TagPolicy{Regex: `^main-(\w+)$`}, []string{"main-abc", "main-3", "main-1e9", "main-0x10"}, "main-3"},
		{"regex numeric tie prefers longer", TagPolicy{Regex: `^main-(\d+)$`}, []string{"main-10", "main-010"}, "main-010"},
		{"regex no match", TagPolicy{Regex: `^main-(\d+)$`}, []string{"dev-1", "main-"}, ""},
		// regex, alphabetical
		{"regex alphabetical", TagPolicy{Regex: `^main-(\d+)$`, Order: "alphabetical"}, []string{"main-9", "main-10"}, "main-9"},
		{"regex alphabetical timestamps", TagPolicy{Regex: `^main-[a-f0-9]+-(?P<ts>\d{14})$`, Order: "alphabetical"},
			[]string{"main-abc123-20260101120000", "main-fff000-20251231235959", "main-0000-20260101120001"}, "main-0000-20260101120001"},
		{"regex alphabetical optional group absent", TagPolicy{Regex: `^rel(-[a-z]+)?$`, Order: "alphabetical"}, []string{"rel", "rel-b"}, "rel-b"},
		// digest
		{"digest moving tag present", TagPolicy{Digest: "latest"}, []string{"1.0.0", "latest", "main"}, "latest"},
		{"digest moving tag absent", TagPolicy{Digest: "latest"}, []string{"1.0.0", "Latest"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSelector(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := s.Select(tt.tags)
			if ok != (tt.want != "") || got != tt.want {
				t.Fatalf("Select(%q) = %q, %v; want %q", tt.tags, got, ok, tt.want)
			}
			// The answer does not depend on the input order.
			rev := slices.Clone(tt.tags)
			slices.Reverse(rev)
			if again, _ := s.Select(rev); again != got {
				t.Errorf("Select(reversed) = %q, want %q", again, got)
			}
			// Select agrees with sorting by Less.
			allowed := slices.DeleteFunc(slices.Clone(tt.tags), func(tag string) bool { return !s.Allows(tag) })
			slices.SortFunc(allowed, func(a, b string) int {
				switch {
				case s.Less(a, b):
					return -1
				case s.Less(b, a):
					return 1
				}
				return 0
			})
			if len(allowed) > 0 && allowed[len(allowed)-1] != got {
				t.Errorf("max by Less = %q, Select = %q", allowed[len(allowed)-1], got)
			}
		})
	}
}

func TestLess(t *testing.T) {
	tests := []struct {
		policy TagPolicy
		a, b   string
		want   bool
	}{
		{TagPolicy{Semver: ">=1.0.0"}, "1.2.0", "1.10.0", true},
		{TagPolicy{Semver: ">=1.0.0"}, "1.10.0", "1.2.0", false},
		{TagPolicy{Semver: ">=1.0.0"}, "1.0", "1.0.0", true},
		{TagPolicy{Semver: ">=1.0.0"}, "1.0.0", "1.0.0", false},
		{TagPolicy{Semver: ">=1.0.0"}, "latest", "1.0.0", true},         // disallowed is older
		{TagPolicy{Semver: ">=1.0.0"}, "0.9.0", "1.0.0", true},          // running tag outside the policy
		{TagPolicy{Semver: ">=1.0.0"}, "9.0.0-rc.1", "1.0.0", true},     // pre-release is not allowed here
		{TagPolicy{Semver: ">=1.0.0"}, "1.0.0", "0.9.0", false},         // allowed beats disallowed
		{TagPolicy{Regex: `^main-(\d+)$`}, "main-9", "main-10", true},   // numerical
		{TagPolicy{Regex: `^main-(\d+)$`}, "main-abc", "main-1", true},  // disallowed
		{TagPolicy{Regex: `^main-(\d+)$`}, "main-1", "main-abc", false}, // allowed beats disallowed
		{TagPolicy{Regex: `^main-(\d+)$`, Order: "alphabetical"}, "main-10", "main-9", true},
		{TagPolicy{Digest: "latest"}, "latest", "latest", false},
		{TagPolicy{Digest: "latest"}, "main", "latest", true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v/%s<%s", tt.policy, tt.a, tt.b), func(t *testing.T) {
			s, err := NewSelector(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Less(tt.a, tt.b); got != tt.want {
				t.Errorf("Less(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestNewSelectorErrors(t *testing.T) {
	tests := []struct {
		name   string
		policy TagPolicy
		want   string
	}{
		{"nothing set", TagPolicy{}, "exactly one of semver, regex or digest"},
		{"two set", TagPolicy{Semver: ">=1", Digest: "latest"}, "exactly one of semver, regex or digest"},
		{"bad constraint", TagPolicy{Semver: ">=banana"}, `semver constraint ">=banana"`},
		{"bad regex", TagPolicy{Regex: `main-(\d+`}, "regex \"main-(\\\\d+\""},
		{"bad order", TagPolicy{Regex: `(\d+)`, Order: "random"}, `order "random"`},
		{"order without regex", TagPolicy{Semver: ">=1", Order: "numerical"}, "applies only to regex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSelector(tt.policy)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewSelector(%+v) error = %v, want it to mention %s", tt.policy, err, tt.want)
			}
		})
	}
}

// benchTags is a realistic mix: releases, pre-releases, CI builds, garbage.
func benchTags(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	tags := make([]string, 0, n)
	for i := range n {
		switch i % 5 {
		case 0, 1:
			tags = append(tags, fmt.Sprintf("%d.%d.%d", r.IntN(5), r.IntN(50), r.IntN(100)))
		case 2:
			tags = append(tags, fmt.Sprintf("v%d.%d.%d-rc.%d", r.IntN(5), r.IntN(50), r.IntN(100), r.IntN(9)))
		case 3:
			tags = append(tags, fmt.Sprintf("main-%d", r.IntN(100000)))
		default:
			tags = append(tags, fmt.Sprintf("sha-%08x", r.Uint32()))
		}
	}
	return tags
}

func BenchmarkSelect(b *testing.B) {
	tags := benchTags(5000)
	for _, bc := range []struct {
		name   string
		policy TagPolicy
	}{
		{"semver", TagPolicy{Semver: ">=1.0.0 <4.0.0"}},
		{"numerical", TagPolicy{Regex: `^main-(?P<version>\d+)$`}},
		{"alphabetical", TagPolicy{Regex: `^sha-(?P<version>[0-9a-f]+)$`, Order: "alphabetical"}},
		{"digest", TagPolicy{Digest: "latest"}},
	} {
		s, err := NewSelector(bc.policy)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, ok := s.Select(tags); !ok && bc.policy.Digest == "" {
					b.Fatal("nothing selected")
				}
			}
		})
	}
}

// TestSelectSkipping: a tag that looks like a version but is refused is
// reported with its reason (issue 14 item 7: "1.9.9_build" was ignored in
// silence); a tag the policy simply does not match is not. The list keeps
// the newest-looking max and counts the rest.
func TestSelectSkipping(t *testing.T) {
	tests := []struct {
		name     string
		policy   TagPolicy
		tags     []string
		want     string
		skipped  []string // tag: a piece of its reason
		wantMore int
	}{
		{"semver", TagPolicy{Semver: ">=1.0.0"},
			[]string{"1.0.0", "1.9.9_build", "2.0.0-rc.1", "0.5.0-rc.1", "0.9.0", "latest", "1.2.3.4", "main-10", "sha-deadbeef"},
			"1.0.0", []string{
				`2.0.0-rc.1: a pre-release, and the range ">=1.0.0" names none`,
				`1.9.9_build: not a semantic version; a tag cannot hold semver's "+"`,
				`1.2.3.4: not a semantic version`,
			}, 0},
		{"semver, nothing allowed", TagPolicy{Semver: ">=1.0.0 <2.0.0"}, []string{"1.0.0_b", "v1.1.0_c", "2.0.0"},
			"", []string{`v1.1.0_c: not a semantic version`, `1.0.0_b: not a semantic version`}, 0},
		{"range naming a pre-release skips nothing", TagPolicy{Semver: ">=1.0.0-0"}, []string{"1.0.0", "1.1.0-rc.1"}, "1.1.0-rc.1", nil, 0},
		{"regex numerical", TagPolicy{Regex: `^main-(.+)$`}, []string{"main-9", "main-10", "main-1.2.3", "release-7"},
			"main-10", []string{`main-1.2.3: its version capture is not a plain decimal number`}, 0},
		{"regex alphabetical skips nothing", TagPolicy{Regex: `^main-(.+)$`, Order: OrderAlphabetical}, []string{"main-a", "main-1.2.3"}, "main-a", nil, 0},
		{"digest", TagPolicy{Digest: "latest"}, []string{"latest", "1.0.0_x"}, "latest", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSelector(tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, skipped, more := s.SelectSkipping(tc.tags, 5)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("selected %q, %v; want %q", got, ok, tc.want)
			}
			if sel, _ := s.Select(tc.tags); sel != got {
				t.Errorf("Select = %q, SelectSkipping = %q", sel, got)
			}
			if len(skipped) != len(tc.skipped) || more != tc.wantMore {
				t.Fatalf("skipped %v (+%d), want %d (+%d)", skipped, more, len(tc.skipped), tc.wantMore)
			}
			for i, w := range tc.skipped {
				tag, reason, _ := strings.Cut(w, ": ")
				if skipped[i].Tag != tag || !strings.Contains(skipped[i].Reason, reason) {
					t.Errorf("skipped[%d] = %s: %s; want %s", i, skipped[i].Tag, skipped[i].Reason, w)
				}
			}
		})
	}
}

// TestSelectSkippingCap: a hundred refused tags give the five that look
// newest and a count, not a flood.
func TestSelectSkippingCap(t *testing.T) {
	s, err := NewSelector(TagPolicy{Semver: ">=1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, i := range rand.Perm(100) {
		tags = append(tags, fmt.Sprintf("1.0.%d_build", i))
	}
	tags = append(tags, "1.0.0")
	got, _, skipped, more := s.SelectSkipping(tags, 5)
	if got != "1.0.0" || more != 95 || len(skipped) != 5 {
		t.Fatalf("got %q, %d skipped listed, %d more; want 1.0.0, 5, 95", got, len(skipped), more)
	}
	for i, sk := range skipped {
		if want := fmt.Sprintf("1.0.%d_build", 99-i); sk.Tag != want {
			t.Errorf("skipped[%d] = %s, want %s (newest-looking first)", i, sk.Tag, want)
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.10.0_x", "1.9.9_x", 1}, {"2.0.0-rc.1", "1.9.9_build", 1}, {"1.0.0", "1.0.0", 0},
		{"1.0.01", "1.0.1", 0}, {"v1.2", "1.2", 1}, {"1.2", "1.2.0", -1}, {"main-a", "main-10", 1},
	} {
		if got := naturalCompare(tc.a, tc.b); got != tc.want {
			t.Errorf("naturalCompare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
