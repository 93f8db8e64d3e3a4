package docs

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/gitstate"
)

// TestFleetRepoExamples: every .ferry/ example on docs/fleet-repo.md
// parses with ferry's own parser, and shows every field its table names.
func TestFleetRepoExamples(t *testing.T) {
	kinds := map[string]bool{}
	for _, b := range yamlBlocks(t, "fleet-repo.md") {
		var err error
		switch {
		case strings.Contains(b.text, "kind: Rejections"):
			var rs *gitstate.Rejections
			rs, err = gitstate.ParseRejections(gitstate.RejectionsFile, []byte(b.text))
			if err == nil && len(rs.Rejected) == 0 {
				t.Errorf("fleet-repo.md:%d: the example rejects nothing", b.line)
			}
			kinds["Rejections"] = true
		case strings.Contains(b.text, "kind: Freezes"):
			var fs *gitstate.Freezes
			fs, err = gitstate.ParseFreezes(gitstate.FreezesFile, []byte(b.text))
			if err == nil && len(fs.Freezes) != 3 {
				t.Errorf("fleet-repo.md:%d: want one freeze of each shape, found %d", b.line, len(fs.Freezes))
			}
			kinds["Freezes"] = true
		case strings.Contains(b.text, "kind: Approvals"):
			var as *gitstate.Approvals
			as, err = gitstate.ParseApprovals(gitstate.ApprovalsFile, []byte(b.text))
			if err == nil && len(as.Approvals) == 0 {
				t.Errorf("fleet-repo.md:%d: the example has no votes", b.line)
			}
			kinds["Approvals"] = true
		default:
			t.Errorf("fleet-repo.md:%d: a yaml example of no known kind", b.line)
			continue
		}
		if err != nil {
			t.Errorf("fleet-repo.md:%d: the example does not parse:\n%v", b.line, err)
		}
	}
	if !kinds["Rejections"] || !kinds["Freezes"] || !kinds["Approvals"] {
		t.Fatalf("fleet-repo.md lacks an example: %v", kinds)
	}
}

// TestFleetRepoFields: the fields each table documents are exactly the
// ones the parser accepts, as its unknown-field error lists them.
func TestFleetRepoFields(t *testing.T) {
	rows := tableRows(t, "fleet-repo.md")
	for _, tc := range []struct {
		list, doc string
		parse     func([]byte) error
	}{
		{"rejected", "apiVersion: ferry.dev/v1alpha1\nkind: Rejections\nrejected:\n  - {app: a, version: 1.0.0, zzz: 1}\n",
			func(b []byte) error { _, err := gitstate.ParseRejections("r", b); return err }},
		{"freezes", "apiVersion: ferry.dev/v1alpha1\nkind: Freezes\nfreezes:\n  - {name: a, until: resolved, zzz: 1}\n",
			func(b []byte) error { _, err := gitstate.ParseFreezes("f", b); return err }},
		{"approvals", "apiVersion: ferry.dev/v1alpha1\nkind: Approvals\napprovals:\n  - {app: a, env: b, version: 1.0.0, zzz: 1}\n",
			func(b []byte) error { _, err := gitstate.ParseApprovals("a", b); return err }},
	} {
		err := tc.parse([]byte(tc.doc))
		m := regexp.MustCompile(`unknown field; want one of ([^\n]+)`).FindStringSubmatch(errString(err))
		if m == nil {
			t.Fatalf("%s: no unknown-field error listing the fields: %v", tc.list, err)
		}
		accepted := strings.Split(m[1], ", ")
		var documented []string
		for _, r := range rows {
			if f, ok := strings.CutPrefix(r.path, tc.list+"[]."); ok {
				documented = append(documented, f)
			}
		}
		slices.Sort(accepted)
		slices.Sort(documented)
		if !slices.Equal(accepted, documented) {
			t.Errorf("%s[] fields: the parser accepts %v, fleet-repo.md documents %v", tc.list, accepted, documented)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
