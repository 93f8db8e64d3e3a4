package notify

import (
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzMessage feeds event fields (outside input: image tags, alert text,
// policy reasons) through the templates into a mail: whatever they hold,
// the message parses, has exactly ferry's headers, and carries the
// rendered subject and body unchanged.
func FuzzMessage(f *testing.F) {
	f.Add("promotion", "web", "prod", "1.2.3", "ppd", "denied by policy")
	f.Add("rollback", "web\r\nBcc: victim@example.net", "prod\n\nbody", "1.0\rX: y", "", "")
	f.Add("denial", "déployé ✓", "=?utf-8?q?forged?=", strings.Repeat("v", 300), "\x00\xff", "a\u2028b")
	f.Add("x\r\nSubject: two", ".", "\r\n.\r\n", "=", "=?", "line\n.\nQUIT")
	tmpl, err := NewTemplates("", "")
	if err != nil {
		f.Fatal(err)
	}
	from := mustAddr(f, "ferry <ferry@example.com>")[0]
	to := mustAddr(f, "ops@example.com")
	want := []string{"Auto-Submitted", "Content-Transfer-Encoding", "Content-Type", "Date", "From",
		"Message-Id", "Mime-Version", "Subject", "To", "X-Ferry-Event"}
	f.Fuzz(func(t *testing.T, kind, app, env, version, from2, reason string) {
		ev := Event{Kind: Kind(kind), App: app, Env: env, Version: version, From: from2, Reason: reason,
			Reasons: []string{reason}, Time: time.Unix(0, 0)}
		subject, body, err := tmpl.Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := buildMessage(from, to, ev.Kind, subject, body, time.Unix(0, 0), "<1@example.com>")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.SplitAfter(string(msg), "\n") {
			if strings.TrimSuffix(line, "\r\n") != strings.TrimRight(line, "\r\n") || len(line) > 998 {
				t.Fatalf("bad line %q", line)
			}
		}
		m := parseMessage(t, msg)
		var got []string
		for k := range m.header {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("headers %v, want %v", got, want)
		}
		if m.subject != subject {
			t.Fatalf("subject %q, want %q", m.subject, subject)
		}
		if m.body != lf(body) {
			t.Fatalf("body %q, want %q", m.body, lf(body))
		}
		if a, err := mail.ParseAddressList(m.header.Get("To")); err != nil || len(a) != 1 {
			t.Fatalf("To %q: %v", m.header.Get("To"), err)
		}
	})
}

// FuzzTemplates: a user's template either fails at construction with an
// error naming it, or renders every kind.
func FuzzTemplates(f *testing.F) {
	f.Add("{{.App}}", "{{template \"details\" .}}")
	f.Add("{{.App", "{{range .Reasons}}{{.}}{{end}}")
	f.Add("{{.Nope}}", "{{if}}")
	f.Add("{{define \"x\"}}{{template \"x\" .}}{{end}}{{template \"x\" .}}", "")
	f.Add("{{short .Commit}} {{utc .Time}}", "{{join .Reasons \", \"}}")
	f.Fuzz(func(t *testing.T, subject, body string) {
		tmpl, err := NewTemplates(subject, body)
		if err != nil {
			if !strings.Contains(err.Error(), "subject template") && !strings.Contains(err.Error(), "body template") {
				t.Fatalf("error does not name the template: %v", err)
			}
			return
		}
		for _, k := range Kinds {
			s, b, err := tmpl.Render(sampleEvent(k))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if strings.ContainsAny(s, "\r\n") || !strings.HasSuffix(b, "\n") {
				t.Fatalf("%s: subject %q, body %q", k, s, b)
			}
		}
	})
}
