package registry

import (
	"fmt"
	"testing"
)

// The memo of parsed tags answers as parsing does, and stays bounded
// however many distinct tags a long-running agent sees.
func TestSelectorMemoBounded(t *testing.T) {
	for _, pol := range []TagPolicy{{Semver: ">=1.0.0"}, {Regex: `^main-(?P<version>\d+)$`}} {
		sel, err := NewSelector(pol)
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := NewSelector(pol)
		for i := range maxMemoTags + 100 {
			tag := fmt.Sprintf("1.%d.0", i)
			if i%3 == 0 {
				tag = fmt.Sprintf("main-%d", i)
			}
			if i%7 == 0 {
				tag = fmt.Sprintf("1.%d.0-rc.1", i)
			}
			k1, c1 := sel.explain(tag)
			k2, c2 := sel.explain(tag) // from the memo
			k3, c3 := fresh.explainOnce(tag)
			if c1 != c3 || c2 != c3 || (k1 == key{}) != (k3 == key{}) || (k2 == key{}) != (k3 == key{}) {
				t.Fatalf("%+v %s: memo says %v/%v, parsing says %v", pol, tag, c1, c2, c3)
			}
			if k3.ver != nil && (k1.ver.Compare(k3.ver) != 0 || k2.ver.Compare(k3.ver) != 0) {
				t.Fatalf("%s: memo's version differs", tag)
			}
		}
		if n := sel.memoLen(); n > maxMemoTags || n == 0 {
			t.Errorf("%+v: memo holds %d tags, want 1..%d", pol, n, maxMemoTags)
		}
	}
}
