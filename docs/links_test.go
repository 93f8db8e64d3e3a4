package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	fenceRE   = regexp.MustCompile("(?ms)^```.*?^```")
)

// TestRelativeLinks: every relative link of README.md and docs/*.md points
// to a file that exists, and a #fragment to a heading of that page (as
// GitHub names them). Nothing still sends readers to a DESIGN.md the
// repository does not have.
func TestRelativeLinks(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md")
	checked := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := fenceRE.ReplaceAllString(string(data), "") // code is not links
		if strings.Contains(text, "DESIGN.md") {
			t.Errorf("%s names DESIGN.md, which is not in the repository; link docs/design.md", page)
		}
		for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			checked++
			file, frag, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s links %s: no such file", page, target)
					continue
				}
			}
			if frag != "" && strings.HasSuffix(path, ".md") && !hasAnchor(t, path, frag) {
				t.Errorf("%s links %s: %s has no heading #%s", page, target, path, frag)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d relative links; the extraction broke", checked)
	}
}

// hasAnchor reports whether page has a heading whose GitHub anchor is frag.
func hasAnchor(t *testing.T, page, frag string) bool {
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range headingRE.FindAllStringSubmatch(fenceRE.ReplaceAllString(string(data), ""), -1) {
		if anchor(m[1]) == frag {
			return true
		}
	}
	return false
}

// anchor is GitHub's id for a heading: lower case, punctuation dropped,
// spaces as hyphens.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestAnchor(t *testing.T) {
	for h, want := range map[string]string{"Contracts": "contracts", ".ferry/rejected.yaml": "ferryrejectedyaml", "Metrics, DORA, dashboard": "metrics-dora-dashboard"} {
		if got := anchor(h); got != want {
			t.Errorf("anchor(%q) = %q, want %q", h, got, want)
		}
	}
}
