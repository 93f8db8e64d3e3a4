package policies

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// PrintDecision writes d for `ferry policy eval`: as text, "allow" or "deny"
// then one "deny: ..." or "warn: ..." line per reason; as JSON,
// {"allow": bool, "deny": [...], "warn": [...], "data": [{"file", "path"}]}
// with arrays never null, data listing the data files the policies saw.
func PrintDecision(w io.Writer, d Decision, data []DataFile, jsonOut bool) error {
	deny, warn := d.Deny, d.Warn
	if deny == nil {
		deny = []string{}
	}
	if warn == nil {
		warn = []string{}
	}
	if data == nil {
		data = []DataFile{}
	}
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err := enc.Encode(struct {
			Allow bool       `json:"allow"`
			Deny  []string   `json:"deny"`
			Warn  []string   `json:"warn"`
			Data  []DataFile `json:"data"`
		}{d.Allow, deny, warn, data})
		if err != nil {
			return fmt.Errorf("write decision: %w", err)
		}
		return nil
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	if _, err := fmt.Fprintln(w, verdict); err != nil {
		return fmt.Errorf("write decision: %w", err)
	}
	for _, kind := range []struct {
		label string
		msgs  []string
	}{{"deny", deny}, {"warn", warn}} {
		for _, m := range kind.msgs {
			// One reason per line, even if a policy put a newline in one.
			if _, err := fmt.Fprintf(w, "%s: %s\n", kind.label, strings.ReplaceAll(m, "\n", " ")); err != nil {
				return fmt.Errorf("write decision: %w", err)
			}
		}
	}
	return nil
}
