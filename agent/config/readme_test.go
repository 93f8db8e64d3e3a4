package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEConfigSnippets: every ferry.yaml the README shows (whole, or
// a fragment: top-level keys, environment entries, the ferry.yaml half of
// the Alertmanager example) parses with the fields it names. The README
// is the contract; a field it shows that ferry does not know is a
// broken promise (H8 found settings the README named wrong or not at all).
// Only unknown fields and YAML errors fail here: a fragment's references
// to environments it does not define are not its point.
func TestREADMEConfigSnippets(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(data), -1)
	checked := 0
	for i, m := range blocks {
		text := m[1]
		switch {
		case strings.Contains(text, "endpoints:"):
			continue // the registry's own notification config, not ferry's
		case strings.HasPrefix(text, "alertmanager.yml:"):
			_, after, ok := strings.Cut(text, "\nferry.yaml:\n")
			if !ok {
				t.Fatalf("block %d: no ferry.yaml half", i+1)
			}
			text = dedent(after, 2)
		case strings.HasPrefix(text, "  - name:"):
			text = "environments:\n  - {name: ppd, overlay: overlays/ppd}\n" + text
		}
		doc := text
		if !strings.HasPrefix(text, "apiVersion:") {
			doc = "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\n"
			for _, base := range []struct{ key, text string }{
				{"git", "git: {url: file:///srv/fleet.git}\n"},
				{"apps", "apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n"},
				{"environments", "environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n"},
			} {
				if !regexp.MustCompile(`(?m)^` + base.key + `:`).MatchString(text) {
					doc += base.text
				}
			}
			doc += text
		}
		checked++
		_, err := Parse("README.md", []byte(doc))
		if err == nil {
			continue
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if strings.Contains(line, "unknown field") || strings.Contains(line, "syntax") || strings.Contains(line, "mapping") {
				t.Errorf("README yaml block %d: %s\n%s", i+1, line, doc)
			}
		}
	}
	if checked < 6 {
		t.Fatalf("checked %d README yaml blocks; the extraction broke", checked)
	}
}

// dedent removes n leading spaces from every line.
func dedent(s string, n int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if len(l) >= n && strings.TrimSpace(l[:n]) == "" {
			lines[i] = l[n:]
		}
	}
	return strings.Join(lines, "\n")
}
