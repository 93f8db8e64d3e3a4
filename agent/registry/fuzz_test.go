package registry

import (
	"strings"
	"testing"
	"time"
)

// FuzzSelect feeds arbitrary policies and tag lists (newline-separated):
// Select never panics, its answer is allowed, and no allowed tag is newer.
func FuzzSelect(f *testing.F) {
	seeds := []struct{ semver, regex, order, digest, tags string }{
		{">=1.0.0", "", "", "", "1.0.0\nv1.2.3\n1.2\n1.3.0-rc.1\nlatest\n"},
		{">=1.0.0", "", "", "", "1.9.9_build\n2.0.0-rc.1\n1.2.3.4\n1.0.0\n0.1.0-rc.1"},
		{">=1.1.0-0 <2", "", "", "", "1.1.0-rc.1\n1.1.0\n2.0.0-alpha\n01.1.1"},
		{"", `^main-(\d+)$`, "", "", "main-9\nmain-10\nmain-010\nmain-x"},
		{"", `^(?P<ts>\d{8})-(?P<version>\d+\.\d+)$`, "numerical", "", "20260101-1.5\n20260101-1.25"},
		{"", `(?P<b>[a-z]*)`, "alphabetical", "", "abc\nABC\n\n123"},
		{"", "", "", "latest", "latest\nmain\n"},
	}
	for _, s := range seeds {
		f.Add(s.semver, s.regex, s.order, s.digest, s.tags)
	}
	f.Fuzz(func(t *testing.T, semver, regex, order, digest, tagList string) {
		s, err := NewSelector(TagPolicy{Semver: semver, Regex: regex, Order: order, Digest: digest})
		if err != nil {
			return
		}
		tags := strings.Split(tagList, "\n")
		got, ok := s.Select(tags)
		// SelectSkipping selects the same tag, and lists at most max
		// refused tags, none of them allowed, with a reason each.
		got2, ok2, skipped, more := s.SelectSkipping(tags, 3)
		if got2 != got || ok2 != ok || len(skipped) > 3 || more < 0 || (more > 0 && len(skipped) != 3) {
			t.Fatalf("SelectSkipping = %q, %v, %d skipped, %d more; Select = %q, %v", got2, ok2, len(skipped), more, got, ok)
		}
		for _, sk := range skipped {
			if s.Allows(sk.Tag) || sk.Reason == "" {
				t.Fatalf("skipped %q (%q), which is allowed or has no reason", sk.Tag, sk.Reason)
			}
		}
		if !ok {
			for _, tag := range tags {
				if s.Allows(tag) {
					t.Fatalf("Select found nothing but %q is allowed", tag)
				}
			}
			return
		}
		if !s.Allows(got) {
			t.Fatalf("Select = %q, which is not allowed", got)
		}
		for _, tag := range tags {
			if s.Allows(tag) && s.Less(got, tag) {
				t.Fatalf("Select = %q, but allowed %q is newer", got, tag)
			}
			if tag != got && s.Less(got, tag) == s.Less(tag, got) {
				t.Fatalf("Less is not a strict order on %q and %q", got, tag)
			}
		}
	})
}

// FuzzRetryAfter: any header value yields a wait within [0, limit].
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "1", "120", "-1", "1.5", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "garbage"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string) {
		const limit = 30 * time.Second
		if d := retryAfter(h, now, limit); d < 0 || d > limit {
			t.Fatalf("retryAfter(%q) = %s, outside [0, %s]", h, d, limit)
		}
	})
}
