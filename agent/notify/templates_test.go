package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The default subject and body of every kind, and the mail built from them.
func TestDefaultTemplatesGolden(t *testing.T) {
	tmpl, err := NewTemplates("", "")
	if err != nil {
		t.Fatal(err)
	}
	from, to := mustAddr(t, "ferry <ferry@example.com>"), mustAddr(t, "ops@example.com")
	date := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			subject, body, err := tmpl.Render(sampleEvent(k))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "templates/"+string(k)+".txt", []byte("Subject: "+subject+"\n\n"+body))
			msg, err := buildMessage(from[0], to, k, subject, body, date, "<1.test@example.com>")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "email/"+string(k)+".eml", msg)
		})
	}
}

// An event with only the required fields renders without empty detail
// lines or "<no value>"; an unknown kind gets the generic template.
func TestRenderSparseAndUnknown(t *testing.T) {
	tmpl, err := NewTemplates("", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ev                Event
		subject, bodyHead string
	}{
		{Event{Kind: Promotion, App: "web", Env: "qa", Version: "2.0.0"},
			"[ferry] web 2.0.0 promoted to qa", "web 2.0.0 was promoted to qa.\n"},
		{Event{Kind: Rollback, App: "web", Env: "prod", Version: "1.0.0", From: "1.1.0"},
			"[ferry] web rolled back in prod to 1.0.0", "web was rolled back in prod from 1.1.0 to 1.0.0.\n"},
		{Event{Kind: "frozen", App: "web", Env: "prod", Version: "1.0.0"},
			"[ferry] frozen: web 1.0.0 in prod", "frozen: web 1.0.0 in prod.\n"},
		{Event{App: "web"}, "[ferry] : web in", ": web  in .\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.ev.Kind), func(t *testing.T) {
			subject, body, err := tmpl.Render(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if subject != tt.subject {
				t.Errorf("subject %q, want %q", subject, tt.subject)
			}
			if body != tt.bodyHead {
				t.Errorf("body %q, want %q", body, tt.bodyHead)
			}
		})
	}
}

func TestNewTemplates(t *testing.T) {
	tests := []struct {
		name, subject, body string
		wantErr             string
		wantSubject         string
		wantBody            string
	}{
		{name: "defaults", wantSubject: "[ferry] app 1.2.3 denied for prod", wantBody: "ferry did not promote app 1.2.3 to prod from ppd: a gate denied it.\n"},
		{name: "subject only", subject: "{{.Kind}} {{.App}}", wantSubject: "denial app", wantBody: "ferry did not promote"},
		{name: "body with details", body: "{{.App}}\n{{template \"details\" .}}", wantSubject: "[ferry] app", wantBody: "app\nReason:   reason\nReasons:\n  - a\n  - b\n"},
		{name: "functions", body: `{{join .Reasons ", "}} {{short .Commit}} {{utc .Time}}`, wantSubject: "[ferry]", wantBody: "a, b 0123456789ab 2026-01-02T03:04:05Z\n"},
		{name: "multi-line subject", subject: "{{.App}}\n\t{{.Env}}\r\n", wantSubject: "app prod", wantBody: "ferry"},
		{name: "subject does not parse", subject: "{{.App", wantErr: "subject template: template: subject:1:"},
		{name: "body does not parse", body: "{{if}}", wantErr: "body template: template: body:1:"},
		{name: "unknown field", body: "{{.Nope}}", wantErr: "body template on a promotion event"},
		{name: "unknown template", subject: `{{template "nope" .}}`, wantErr: "subject template on a promotion event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := NewTemplates(tt.subject, tt.body)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			subject, body, err := tmpl.Render(sampleEvent(Denial))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(subject, tt.wantSubject) {
				t.Errorf("subject %q, want prefix %q", subject, tt.wantSubject)
			}
			if !strings.HasPrefix(body, tt.wantBody) {
				t.Errorf("body %q, want prefix %q", body, tt.wantBody)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a b", "a b"},
		{"  a\r\n\tb  ", "a b"},
		{"a\x00b\x7fc", "a b c"},
		{"a\u2028b\u0085c", "a b c"},
		{"bad \xff utf8", "bad utf8"},
		{strings.Repeat("é", 300), strings.Repeat("é", maxSubject-1) + "…"},
	}
	for _, tt := range tests {
		if got := oneLine(tt.in, maxSubject); got != tt.want {
			t.Errorf("oneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
