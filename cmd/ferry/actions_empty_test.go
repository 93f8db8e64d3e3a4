package main

import (
	"strings"
	"testing"
)

// TestActionCommandEmptyFlags (red team): cobra's required flag is
// satisfied by an empty value, so --reason "" is refused as a blank reason
// is; an explicitly empty --as is refused rather than falling back to the
// OS user; a bad $FERRY_USER is reported as $FERRY_USER. Nothing is written.
func TestActionCommandEmptyFlags(t *testing.T) {
	f := newCmdFleet(t, actionsPipeline, nil)
	f.push(t, "shop/checkout", "1.0.0")
	head := f.head(t)
	for _, tc := range []struct {
		user string
		args []string
		want string
	}{
		{"alice", []string{"reject", "checkout", "1.0.0", "--env", "prod", "--reason", ""}, "--reason is empty"},
		{"alice", []string{"promote", "checkout", "1.0.0", "--env", "prod", "--reason", ""}, "--reason is empty"},
		{"alice", []string{"rollback", "checkout", "--env", "prod", "--reason", ""}, "--reason is empty"},
		{"alice", []string{"abort", "checkout", "--env", "prod", "--reason", ""}, "--reason is empty"},
		{"alice", []string{"reject", "checkout", "1.0.0", "--env", "prod", "--reason", "  "}, "--reason is empty"},
		{"alice", []string{"approve", "checkout", "1.0.0", "--env", "prod", "--as", ""}, "--as is empty"},
		{"alice", []string{"approve", "checkout", "1.0.0", "--env", "prod", "--as", " "}, "--as is empty"},
		{"bad name", []string{"approve", "checkout", "1.0.0", "--env", "prod"}, `$FERRY_USER "bad name": a name without spaces`},
		{" ", []string{"approve", "checkout", "1.0.0", "--env", "prod"}, "$FERRY_USER is blank"},
	} {
		t.Setenv("FERRY_USER", tc.user)
		code, out, _, err := f.ferry(t, tc.args...)
		if code != 1 || err == nil || !strings.Contains(err.Error(), tc.want) || out != "" {
			t.Errorf("FERRY_USER=%q %q: exit %d, error %v, stdout %q; want exit 1 and an error containing %q", tc.user, tc.args, code, err, out, tc.want)
		}
	}
	if got := f.head(t); got != head {
		t.Errorf("a refused action wrote: main %.12s -> %.12s", head, got)
	}
}
