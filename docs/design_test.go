package docs

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDesignLayout: every directory the design's layout names exists.
func TestDesignLayout(t *testing.T) {
	data, err := os.ReadFile("design.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := strings.Cut(string(data), "## Layout")
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	n := 0
	for _, l := range strings.Split(block, "\n") {
		dir, _, _ := strings.Cut(l, " ")
		if dir == "" {
			continue
		}
		n++
		if fi, err := os.Stat("../" + dir); err != nil || !fi.IsDir() {
			t.Errorf("design.md's layout names %s, which is not a directory of the repo", dir)
		}
	}
	if n < 20 {
		t.Fatalf("read %d directories from design.md's layout", n)
	}
}

// TestDesignTrailers: the commit trailers design.md names are the ones
// agent/ledger writes, all of them.
func TestDesignTrailers(t *testing.T) {
	trailers := regexp.MustCompile(`Ferry-[A-Z][A-Za-z]*(-[A-Z][A-Za-z]*)*`)
	src, err := os.ReadFile("../agent/ledger/records.go")
	if err != nil {
		t.Fatal(err)
	}
	var ledger []string
	for _, m := range regexp.MustCompile(`= "(Ferry-[A-Za-z-]+)"`).FindAllStringSubmatch(string(src), -1) {
		ledger = append(ledger, m[1])
	}
	doc, err := os.ReadFile("design.md")
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, ix := range trailers.FindAllStringIndex(string(doc), -1) {
		if ix[0] > 0 && doc[ix[0]-1] == '-' {
			continue // a header: X-Ferry-Signature
		}
		named = append(named, string(doc[ix[0]:ix[1]]))
	}
	slices.Sort(ledger)
	slices.Sort(named)
	ledger, named = slices.Compact(ledger), slices.Compact(named)
	if len(ledger) < 15 || !slices.Equal(ledger, named) {
		t.Errorf("agent/ledger writes %v;\ndesign.md names %v", ledger, named)
	}
}

// TestDesignMetrics: the series design.md names are ones agent/observe/metrics.go
// exports.
func TestDesignMetrics(t *testing.T) {
	src, err := os.ReadFile("../agent/observe/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("design.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`ferry_[a-z_]+[a-z]`).FindAllString(string(doc), -1)
	if len(names) < 5 {
		t.Fatalf("design.md names %d series", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(src), `"`+n+`"`) {
			t.Errorf("design.md names %s; agent/observe/metrics.go does not export it", n)
		}
	}
}
