package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func smtpConfig(addr string) SMTPConfig {
	return SMTPConfig{
		Addr: addr,
		From: "ferry <ferry@example.com>",
		To:   []string{"Ops Team <ops@example.com>", "dev@example.com"},
	}
}

func newSMTP(t *testing.T, cfg SMTPConfig) *SMTPSender {
	t.Helper()
	s, err := NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sendCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var messageID = regexp.MustCompile(`^<[0-9]+\.[0-9a-f]{24}@example\.com>$`)

// Every kind, mailed to aiosmtpd, arrives with the default subject and
// body and the headers of a proper RFC 5322 message.
func TestSMTPEachKind(t *testing.T) {
	sink := startSink(t, "")
	s := newSMTP(t, smtpConfig(sink.addr))
	tmpl, err := NewTemplates("", "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Event{}
	for _, k := range Kinds {
		ev := sampleEvent(k)
		want[string(k)] = ev
		if err := s.Send(sendCtx(t), ev); err != nil {
			t.Fatalf("send %s: %v", k, err)
		}
	}
	got := sink.messages(t)
	if len(got) != len(Kinds) {
		t.Fatalf("sink holds %d messages, want %d", len(got), len(Kinds))
	}
	for _, m := range got {
		kind := m.header.Get("X-Ferry-Event")
		ev, ok := want[kind]
		if !ok {
			t.Fatalf("unexpected X-Ferry-Event %q", kind)
		}
		delete(want, kind)
		subject, body, err := tmpl.Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		if m.subject != subject {
			t.Errorf("%s: subject %q, want %q", kind, m.subject, subject)
		}
		if m.body != body {
			t.Errorf("%s: body\n%s\nwant\n%s", kind, m.body, body)
		}
		if _, err := m.header.Date(); err != nil {
			t.Errorf("%s: Date: %v", kind, err)
		}
		if id := m.header.Get("Message-ID"); !messageID.MatchString(id) {
			t.Errorf("%s: Message-ID %q", kind, id)
		}
		for h, v := range map[string]string{
			"MIME-Version":              "1.0",
			"Content-Type":              "text/plain; charset=utf-8",
			"Content-Transfer-Encoding": "quoted-printable",
			"X-MailFrom":                "ferry@example.com",                // added by aiosmtpd: the envelope
			"X-RcptTo":                  "ops@example.com, dev@example.com", // added by aiosmtpd
		} {
			if got := m.header.Get(h); got != v {
				t.Errorf("%s: %s %q, want %q", kind, h, got, v)
			}
		}
		to, err := m.header.AddressList("To")
		if err != nil || len(to) != 2 || to[0].Name != "Ops Team" || to[1].Address != "dev@example.com" {
			t.Errorf("%s: To %v (%v)", kind, to, err)
		}
	}
}

// Overrides replace the default subject and body; UTF-8 survives the trip.
func TestSMTPOverride(t *testing.T) {
	sink := startSink(t, "")
	cfg := smtpConfig(sink.addr)
	cfg.Subject = `{{if eq .Kind "rollback"}}⚠ {{end}}{{.App}} → {{.Env}} déployé {{.Version}}`
	cfg.Body = "Bonjour,\n{{.App}} {{.Version}} ({{short .Commit}}).\n\n{{template \"details\" .}}"
	s := newSMTP(t, cfg)
	ev := sampleEvent(Rollback)
	if err := s.Send(sendCtx(t), ev); err != nil {
		t.Fatal(err)
	}
	got := sink.messages(t)
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	if want := "⚠ app → prod déployé 1.2.3"; got[0].subject != want {
		t.Errorf("subject %q, want %q", got[0].subject, want)
	}
	if !strings.HasPrefix(got[0].body, "Bonjour,\napp 1.2.3 (0123456789ab).\n\nReason:   reason\n") {
		t.Errorf("body:\n%s", got[0].body)
	}
}

// CR and LF in event fields cannot add headers or recipients.
func TestSMTPHeaderInjection(t *testing.T) {
	sink := startSink(t, "")
	s := newSMTP(t, smtpConfig(sink.addr))
	ev := sampleEvent(Promotion)
	ev.App = "web\r\nBcc: victim@example.net"
	ev.Version = "1.0\nX-Injected: yes"
	ev.Env = "prod\r\n\r\nforged body"
	ev.Kind = "promotion\r\nCc: victim@example.net"
	if err := s.Send(sendCtx(t), ev); err != nil {
		t.Fatal(err)
	}
	got := sink.messages(t)
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	for _, h := range []string{"Bcc", "Cc", "X-Injected"} {
		if v, ok := m.header[h]; ok {
			t.Errorf("injected header %s: %q", h, v)
		}
	}
	if rcpt := m.header.Get("X-RcptTo"); rcpt != "ops@example.com, dev@example.com" {
		t.Errorf("envelope recipients %q", rcpt)
	}
	if want := "[ferry] promotion Cc: victim@example.net: web Bcc: victim@example.net 1.0 X-Injected: yes in prod forged body"; m.subject != want {
		t.Errorf("subject %q, want %q", m.subject, want)
	}
}

// STARTTLS is used when offered (this aiosmtpd refuses MAIL without it),
// and the certificate is verified.
func TestSMTPStartTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	sink := startSink(t, "", "--tlscert", cert, "--tlskey", key)
	tests := []struct {
		name    string
		cfg     func(*SMTPConfig)
		wantErr bool
	}{
		{"trusted", func(c *SMTPConfig) { c.RootCAs = pool }, false},
		{"untrusted", func(c *SMTPConfig) {}, true},
		{"insecure skip verify", func(c *SMTPConfig) { c.InsecureSkipVerify = true }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smtpConfig(sink.addr)
			tt.cfg(&cfg)
			err := newSMTP(t, cfg).Send(sendCtx(t), sampleEvent(Promotion))
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var cv *tls.CertificateVerificationError
			if !errors.As(err, &cv) || !IsPermanent(err) {
				t.Fatalf("want a permanent certificate error, got %v", err)
			}
		})
	}
	if n := len(sink.messages(t)); n != 2 {
		t.Errorf("sink holds %d messages, want 2", n)
	}
}

// AUTH PLAIN: over STARTTLS, or in clear to loopback; a wrong password is
// a permanent error that does not show the password.
func TestSMTPAuth(t *testing.T) {
	const user, password = "ferry", "s3cret-Pa55word"
	cert, key, pool := selfSigned(t)
	tlsSink := startAuthSink(t, user, password, cert, key)
	plainSink := startAuthSink(t, user, password)
	noAuth := startSink(t, "")
	tests := []struct {
		name, addr, password string
		wantErr              string
	}{
		{"starttls", tlsSink.addr, password, ""},
		{"loopback in clear", plainSink.addr, password, ""},
		{"wrong password", tlsSink.addr, "wrong-" + password, "535"},
		{"server without auth", noAuth.addr, password, "does not offer AUTH PLAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smtpConfig(tt.addr)
			cfg.Username, cfg.Password, cfg.RootCAs = user, tt.password, pool
			err := newSMTP(t, cfg).Send(sendCtx(t), sampleEvent(Denial))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsPermanent(err) {
				t.Fatalf("want a permanent error with %q, got %v", tt.wantErr, err)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
	if len(tlsSink.messages(t)) != 1 || len(plainSink.messages(t)) != 1 || len(noAuth.messages(t)) != 0 {
		t.Error("messages delivered to the wrong sinks")
	}
}

// The password is never sent in clear to a server that is not loopback.
func TestSMTPNoPasswordInClear(t *testing.T) {
	host := nonLoopbackIP(t)
	sink := startSink(t, host)
	cfg := smtpConfig(sink.addr)
	cfg.Username, cfg.Password = "ferry", "s3cret"
	err := newSMTP(t, cfg).Send(sendCtx(t), sampleEvent(Promotion))
	if err == nil || !strings.Contains(err.Error(), "not sending the password in clear") || !IsPermanent(err) {
		t.Fatalf("want a refusal, got %v", err)
	}
	if n := len(sink.messages(t)); n != 0 {
		t.Errorf("%d messages delivered", n)
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to run an SMTP server on")
	return ""
}

func TestSMTPConnectionRefused(t *testing.T) {
	s := newSMTP(t, smtpConfig("127.0.0.1:"+freePort(t, "127.0.0.1")))
	err := s.Send(sendCtx(t), sampleEvent(Promotion))
	if !errors.Is(err, syscall.ECONNREFUSED) || IsPermanent(err) {
		t.Fatalf("want a retryable connection refused, got %v", err)
	}
}

func TestNewSMTPErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*SMTPConfig)
		wantErr string
	}{
		{"no port", func(c *SMTPConfig) { c.Addr = "mail.example.com" }, `smtp address "mail.example.com"`},
		{"bad from", func(c *SMTPConfig) { c.From = "ferry@" }, `from address "ferry@"`},
		{"no to", func(c *SMTPConfig) { c.To = nil }, "no recipient"},
		{"bad to", func(c *SMTPConfig) { c.To = []string{"a@example.com", "b\r\nBcc: x@y"} }, "to[1] address"},
		{"password without user", func(c *SMTPConfig) { c.Password = "hunter2" }, "password without a username"},
		{"bad subject", func(c *SMTPConfig) { c.Subject = "{{.App" }, "email: subject template"},
		{"bad body", func(c *SMTPConfig) { c.Body = "{{.Nope}}" }, "email: body template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smtpConfig("127.0.0.1:25")
			tt.cfg(&cfg)
			_, err := NewSMTP(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error with %q, got %v", tt.wantErr, err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}
