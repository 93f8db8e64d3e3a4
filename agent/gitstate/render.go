package gitstate

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Entries are written by hand rather than by a YAML encoder: the encoders
// at hand quote timestamps, leave "1e3" plain (a number to other readers)
// and drop tabs, and an edit must produce exactly one entry's lines.

var (
	// plainText is what quote leaves unquoted: it starts with a letter or
	// digit and holds no YAML indicator ('#', ',', brackets, quotes; ':'
	// only where no space or end follows).
	plainText = regexp.MustCompile(`^[\pL\pN][\pL\pN ._/+@()=;:-]*$`)
	// otherType matches plain scalars that some YAML reader resolves to a
	// number, boolean, null or timestamp rather than a string.
	otherType = regexp.MustCompile(`^(?:[-+]?(?:\.[0-9]|[0-9])[0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?` +
		`|[-+]?0[xXoObB][0-9a-fA-F_]+|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?` +
		`|(?i:null|true|false|yes|no|on|off|y|n))$`)
)

// quote renders s as a YAML scalar: plain when every reader sees the same
// string, double-quoted otherwise.
func quote(s string) string {
	if plainText.MatchString(s) && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, ":") &&
		!strings.Contains(s, ": ") && !otherType.MatchString(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r > 0x7f && !unicode.IsPrint(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// flowList renders [a, b].
func flowList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// DurationText writes 62h rather than time.Duration's 62h0m0s.
func DurationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// rejectionLines are the "key: value" lines of one entry, in the order of
// the documented format.
func rejectionLines(r Rejection) []string {
	lines := []string{"app: " + quote(r.App), "version: " + quote(r.Version)}
	add := func(key, value string) {
		if value != "" {
			lines = append(lines, key+": "+quote(value))
		}
	}
	add("digest", r.Digest)
	add("env", r.Env)
	add("reason", r.Reason)
	if !r.At.IsZero() {
		lines = append(lines, "at: "+timeText(r.At))
	}
	add("by", r.By)
	return lines
}

func freezeLines(f Freeze) []string {
	lines := []string{"name: " + quote(f.Name)}
	add := func(key, value string) {
		if value != "" {
			lines = append(lines, key+": "+value)
		}
	}
	if len(f.Envs) > 0 {
		add("envs", flowList(f.Envs))
	}
	if len(f.Apps) > 0 {
		add("apps", flowList(f.Apps))
	}
	if f.Reason != "" {
		add("reason", quote(f.Reason))
	}
	if !f.From.IsZero() {
		add("from", timeText(f.From))
	}
	switch {
	case f.Resolved:
		add("until", untilResolved)
	case !f.Until.IsZero():
		add("until", timeText(f.Until))
	}
	if f.Schedule != "" {
		add("schedule", quote(f.Schedule))
	}
	if f.Duration != 0 {
		add("duration", DurationText(f.Duration))
	}
	if f.Timezone != "" {
		add("timezone", quote(f.Timezone))
	}
	if f.Alert != "" {
		add("alert", quote(f.Alert))
	}
	return lines
}

// entryLines turns key lines into a list entry indented by indent.
func entryLines(keys []string, indent string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		lead := "  "
		if i == 0 {
			lead = "- "
		}
		out[i] = indent + lead + k
	}
	return out
}

// renderDocument writes a whole file of kind with the given entries.
func renderDocument(kind, key string, entries [][]string, eol string) string {
	var b strings.Builder
	b.WriteString("apiVersion: " + APIVersion + eol + "kind: " + kind + eol + key + ":")
	if len(entries) == 0 {
		b.WriteString(" []")
	}
	b.WriteString(eol)
	for _, e := range entries {
		for _, l := range entryLines(e, "  ") {
			b.WriteString(l + eol)
		}
	}
	return b.String()
}
