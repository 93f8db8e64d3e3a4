package ledger

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// gitTrailers is git's own reading of a message's trailers.
func gitTrailers(t *testing.T, msg string) []Trailer {
	t.Helper()
	cmd := exec.Command("git", "interpret-trailers", "--parse")
	cmd.Env = gitserver.Env()
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git interpret-trailers: %v", err)
	}
	var ts []Trailer
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			k, v = strings.TrimSuffix(line, ":"), ""
		}
		ts = append(ts, Trailer{k, v})
	}
	return ts
}

func TestMessageString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"subject only", Message{Subject: "fix typo"}, "fix typo\n"},
		{"promotion", Message{
			Subject: "promote checkout 1.4.2 to qa",
			Trailers: []Trailer{
				{"Ferry-App", "checkout"}, {"Ferry-Env", "qa"}, {"Ferry-From", "dev"},
				{"Ferry-Version", "1.4.2"}, {"Ferry-Digest", "sha256:abc"},
				{"Ferry-Decision", "allow"}, {"Ferry-Policy", "0f3a"},
			},
		}, "promote checkout 1.4.2 to qa\n\nFerry-App: checkout\nFerry-Env: qa\nFerry-From: dev\nFerry-Version: 1.4.2\nFerry-Digest: sha256:abc\nFerry-Decision: allow\nFerry-Policy: 0f3a\n"},
		{"rollback with body", Message{
			Subject:  "rollback checkout in prod to 1.4.1",
			Body:     "error ratio 0.09 over 5m\n\nalert: HighErrorRate",
			Trailers: []Trailer{{"Ferry-Reason", "alert HighErrorRate"}, {"Ferry-Rejects", "1.4.2"}},
		}, "rollback checkout in prod to 1.4.1\n\nerror ratio 0.09 over 5m\n\nalert: HighErrorRate\n\nFerry-Reason: alert HighErrorRate\nFerry-Rejects: 1.4.2\n"},
		{"body only", Message{Subject: "s", Body: "\nwhy\n\n"}, "s\n\nwhy\n"},
		{"repeated and empty values", Message{Subject: "s", Trailers: []Trailer{{"Ferry-Rejects", "1.0.0"}, {"Ferry-Rejects", "1.0.1"}, {"Ferry-Note", ""}}},
			"s\n\nFerry-Rejects: 1.0.0\nFerry-Rejects: 1.0.1\nFerry-Note: \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.msg.String()
			if got != tt.want {
				t.Fatalf("String() = %q, want %q", got, tt.want)
			}
			if err := tt.msg.Validate(); err != nil {
				t.Fatal(err)
			}
			// git reads the trailers we wrote, and we read back what we wrote.
			if g := gitTrailers(t, got); !reflect.DeepEqual(g, tt.msg.Trailers) {
				t.Errorf("git interpret-trailers --parse = %q, want %q", g, tt.msg.Trailers)
			}
			back := ParseMessage(got)
			want := tt.msg
			want.Body = strings.Trim(want.Body, "\n")
			if !reflect.DeepEqual(back, want) {
				t.Errorf("ParseMessage(String()) = %#v, want %#v", back, want)
			}
		})
	}
}

func TestParseMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{"empty", "", Message{}},
		{"subject only, no newline", "bump", Message{Subject: "bump"}},
		{"trailer-looking subject is a subject", "Ferry-App: checkout\n", Message{Subject: "Ferry-App: checkout"}},
		{"multi-line subject joins", "update\nthe overlays\n\nbody\n", Message{Subject: "update the overlays", Body: "body"}},
		{"leading blank lines", "\n\n  subject  \n", Message{Subject: "subject"}},
		{"trailers", "s\n\nFerry-App: checkout\nferry-env:qa\n", Message{Subject: "s", Trailers: []Trailer{{"Ferry-App", "checkout"}, {"ferry-env", "qa"}}}},
		{"blank before colon", "s\n\nFerry-App : checkout\n", Message{Subject: "s", Trailers: []Trailer{{"Ferry-App", "checkout"}}}},
		{"continuation folds", "s\n\nFerry-Reason: error ratio\n  above 5%\nFerry-Env: prod\n", Message{Subject: "s", Trailers: []Trailer{{"Ferry-Reason", "error ratio above 5%"}, {"Ferry-Env", "prod"}}}},
		{"one non-trailer line spoils the block", "s\n\nFerry-App: checkout\nnot a trailer\n", Message{Subject: "s", Body: "Ferry-App: checkout\nnot a trailer"}},
		{"key with a space is no token", "s\n\nFerry App: checkout\n", Message{Subject: "s", Body: "Ferry App: checkout"}},
		{"a lone URL is a trailer to git too", "s\n\nhttps://example.com/x\n", Message{Subject: "s", Trailers: []Trailer{{"https", "//example.com/x"}}}},
		{"continuation first is no block", "s\n\n  indented: x\nKey: v\n", Message{Subject: "s", Body: "  indented: x\nKey: v"}},
		{"only the last paragraph", "s\n\nA: 1\n\nbody\n\nB: 2\n", Message{Subject: "s", Body: "A: 1\n\nbody", Trailers: []Trailer{{"B", "2"}}}},
		{"CRLF", "s\r\n\r\nbody\r\n\r\nKey: v\r\n", Message{Subject: "s", Body: "body", Trailers: []Trailer{{"Key", "v"}}}},
		{"whitespace-only lines separate paragraphs", "s\n \t\nbody\n\t\nKey: v\n", Message{Subject: "s", Body: "body", Trailers: []Trailer{{"Key", "v"}}}},
		{"indented body kept", "s\n\n    code\n    more\n", Message{Subject: "s", Body: "    code\n    more"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseMessage(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseMessage(%q) =\n%#v\nwant\n%#v", tt.in, got, tt.want)
			}
			// Same trailers as git finds, where git would see the message
			// the same way (git keeps CR and does not fold for --parse the
			// same when the block is spoiled).
			if !strings.Contains(tt.in, "\r") {
				if g := gitTrailers(t, tt.in); !reflect.DeepEqual(g, got.Trailers) {
					t.Errorf("git finds trailers %q, ParseMessage %q", g, got.Trailers)
				}
			}
		})
	}
}

func TestTrailerLookup(t *testing.T) {
	t.Parallel()
	m := Message{Subject: "s", Trailers: []Trailer{
		{"Ferry-Rejects", "1.0.0"}, {"Ferry-App", "checkout"}, {"ferry-rejects", "1.0.1"},
	}}
	tests := []struct {
		key    string
		last   string
		values []string
	}{
		{"Ferry-Rejects", "1.0.1", []string{"1.0.0", "1.0.1"}},
		{"FERRY-APP", "checkout", []string{"checkout"}},
		{"Ferry-Env", "", nil},
	}
	for _, tt := range tests {
		if got := m.Trailer(tt.key); got != tt.last {
			t.Errorf("Trailer(%q) = %q, want %q", tt.key, got, tt.last)
		}
		if got := m.TrailerValues(tt.key); !reflect.DeepEqual(got, tt.values) {
			t.Errorf("TrailerValues(%q) = %q, want %q", tt.key, got, tt.values)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  Message
		want string
	}{
		{Message{Subject: " "}, "subject is empty"},
		{Message{Subject: "a\nb"}, "line break"},
		{Message{Subject: "s", Trailers: []Trailer{{"", "x"}}}, "not a token"},
		{Message{Subject: "s", Trailers: []Trailer{{"Ferry_App", "x"}}}, "not a token"},
		{Message{Subject: "s", Trailers: []Trailer{{"Ferry-App", "a\nb"}}}, "line break"},
	}
	for _, tt := range tests {
		err := tt.msg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%#v) = %v, want %q", tt.msg, err, tt.want)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		"",
		"subject",
		"promote checkout 1.4.2 to qa\n\nFerry-App: checkout\nFerry-Env: qa\n",
		"rollback\n\nbody line\n\nFerry-Reason: alert\n  continued\nFerry-Rejects: 1.4.2\n",
		"s\n\nA: 1\n\nnot: a trailer block\nplain\n",
		"Key: subject\n\nKey: v",
		"\r\n\r\n s \r\n\r\n\tx: y\r\n",
		"s\n\n\v\n\fK : v\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := ParseMessage(s)
		if strings.ContainsAny(m.Subject, "\n") {
			t.Fatalf("subject %q has a newline", m.Subject)
		}
		for _, tr := range m.Trailers {
			if !isToken(tr.Key) || strings.ContainsAny(tr.Value, "\n") {
				t.Fatalf("bad trailer %q", tr)
			}
		}
		// Rendering and parsing again changes nothing.
		again := ParseMessage(m.String())
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("ParseMessage(%q) = %#v\nrendered %q\nparsed again %#v", s, m, m.String(), again)
		}
	})
}
