package notify

import (
	"fmt"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// defaultTemplates holds the subject and body of every kind, as named
// templates "subject/<kind>" and "body/<kind>"; "other" serves a kind this
// version does not know. "details" lists the optional fields and can be
// called from an override: {{template "details" .}}.
const defaultTemplates = `
{{- define "subject/promotion"}}[ferry] {{.App}} {{.Version}} promoted to {{.Env}}{{end}}
{{- define "subject/denial"}}[ferry] {{.App}} {{.Version}} denied for {{.Env}}{{end}}
{{- define "subject/pullRequestOpened"}}[ferry] pull request: {{.App}} {{.Version}} for {{.Env}}{{end}}
{{- define "subject/rollback"}}[ferry] {{.App}} rolled back in {{.Env}} to {{.Version}}{{end}}
{{- define "subject/analysisFailed"}}[ferry] analysis failed: {{.App}} {{.Version}} in {{.Env}}{{end}}
{{- define "subject/untrustedTag"}}[ferry] not trusted: {{.App}} {{.Version}} has no signature that verifies{{end}}
{{- define "subject/unverifiedCommit"}}[ferry] unverified commit: {{.App}} {{.Version}} in {{.Env}}{{end}}
{{- define "subject/other"}}[ferry] {{.Kind}}: {{.App}} {{.Version}} in {{.Env}}{{end}}

{{- define "body/promotion"}}{{.App}} {{.Version}} was promoted to {{.Env}}{{with .From}} from {{.}}{{end}}.

{{template "details" .}}{{end}}

{{- define "body/denial"}}ferry did not promote {{.App}} {{.Version}} to {{.Env}}{{with .From}} from {{.}}{{end}}: a gate denied it.

{{template "details" .}}{{end}}

{{- define "body/pullRequestOpened"}}ferry opened a pull request to promote {{.App}} {{.Version}} to {{.Env}}{{with .From}} from {{.}}{{end}}.
Merging it is the approval; closing it refuses this version for {{.Env}}.

{{template "details" .}}{{end}}

{{- define "body/rollback"}}{{.App}} was rolled back in {{.Env}}{{with .From}} from {{.}}{{end}} to {{.Version}}.

{{template "details" .}}{{end}}

{{- define "body/analysisFailed"}}The analysis of {{.App}} {{.Version}} in {{.Env}} failed.

{{template "details" .}}{{end}}

{{- define "body/untrustedTag"}}ferry passed over {{.App}} {{.Version}}: no signature of it verifies against the app's verify: block, so it is not a candidate.

{{template "details" .}}{{end}}

{{- define "body/unverifiedCommit"}}{{.App}} {{.Version}} was set in {{.Env}} by a commit that no allowed signer signed (git.verifyCommits).

{{template "details" .}}{{end}}

{{- define "body/other"}}{{.Kind}}: {{.App}} {{.Version}} in {{.Env}}.

{{template "details" .}}{{end}}

{{- define "details"}}
{{- with .Reason}}Reason:   {{.}}
{{end}}
{{- with .Reasons}}Reasons:
{{range .}}  - {{.}}
{{end}}{{end}}
{{- with .Commit}}Commit:   {{.}}
{{end}}
{{- with .URL}}Link:     {{.}}
{{end}}
{{- if not .Time.IsZero}}Time:     {{utc .Time}}
{{end}}
{{- end}}`

// maxSubject bounds a subject line (in runes): mail headers and chat
// previews have no use for more.
const maxSubject = 200

var funcs = template.FuncMap{
	"utc":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join": strings.Join,
	"short": func(s string) string {
		if r := []rune(s); len(r) > 12 {
			return string(r[:12])
		}
		return s
	},
}

var defaults = template.Must(template.New("defaults").Funcs(funcs).Parse(defaultTemplates))

// Templates renders the subject (one line) and the plain-text body of an
// event: a default per kind, or one override for every kind (an override
// can branch on {{.Kind}} and call {{template "details" .}}). Its data is
// the Event; functions: utc (RFC 3339 in UTC), join, short (12 runes).
type Templates struct {
	set     *template.Template
	subject string // name of the template to run, "" = per-kind default
	body    string
}

// NewTemplates parses the subject and body overrides; an empty string keeps
// the defaults. A template that does not parse, or fails on an event of
// any kind, is an error naming it.
func NewTemplates(subject, body string) (*Templates, error) {
	t := &Templates{set: defaults}
	if subject == "" && body == "" {
		return t, nil
	}
	set, err := defaults.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone default templates: %w", err)
	}
	for _, o := range []struct {
		name, text string
		dst        *string
	}{{"subject", subject, &t.subject}, {"body", body, &t.body}} {
		if o.text == "" {
			continue
		}
		if _, err := set.New(o.name).Parse(o.text); err != nil {
			return nil, fmt.Errorf("%s template: %w", o.name, err)
		}
		*o.dst = o.name
	}
	t.set = set
	// Fail now, not at the first promotion: run each override on a full
	// event of every kind.
	for _, k := range Kinds {
		ev := sampleEvent(k)
		for _, name := range []string{t.subject, t.body} {
			if name == "" {
				continue
			}
			if err := t.set.ExecuteTemplate(&strings.Builder{}, name, ev); err != nil {
				return nil, fmt.Errorf("%s template on a %s event: %w", name, k, err)
			}
		}
	}
	return t, nil
}

// Render returns the subject (one line, no control characters) and the
// body (ending in one newline) of ev.
func (t *Templates) Render(ev Event) (subject, body string, err error) {
	name := func(override, part string) string {
		if override != "" {
			return override
		}
		if n := part + "/" + string(ev.Kind); ev.Kind != "" && t.set.Lookup(n) != nil {
			return n
		}
		return part + "/other"
	}
	var sb, bb strings.Builder
	if err := t.set.ExecuteTemplate(&sb, name(t.subject, "subject"), ev); err != nil {
		return "", "", fmt.Errorf("render subject of %s event: %w", ev.Kind, err)
	}
	if err := t.set.ExecuteTemplate(&bb, name(t.body, "body"), ev); err != nil {
		return "", "", fmt.Errorf("render body of %s event: %w", ev.Kind, err)
	}
	return oneLine(sb.String(), maxSubject), strings.TrimRight(bb.String(), " \t\r\n") + "\n", nil
}

// oneLine folds every run of whitespace and control characters (CR and LF
// included) into one space, so nothing from an event can start a new
// header line, and cuts the result to max runes.
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || r == ' ' || r == 0x85 || r == 0x2028 || r == 0x2029 {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return truncate(b.String(), max)
}

// truncate cuts s to max runes, marking the cut with an ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// sampleEvent has every field set, to try templates on.
func sampleEvent(k Kind) Event {
	from := "ppd"
	if k == Rollback {
		from = "1.3.0" // the bad version
	}
	return Event{
		Kind: k, App: "app", Env: "prod", Version: "1.2.3", From: from,
		Commit: "0123456789abcdef0123456789abcdef01234567", URL: "https://example.invalid/x",
		Reason: "reason", Reasons: []string{"a", "b"},
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}
