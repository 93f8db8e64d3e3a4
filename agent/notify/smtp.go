package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// SMTPConfig configures email over SMTP.
type SMTPConfig struct {
	Addr string // host:port of the SMTP server
	From string // an RFC 5322 address: "ferry <ferry@example.com>"
	To   []string
	// Username and Password log in with AUTH PLAIN, which ferry only does
	// over TLS (STARTTLS) or to a loopback server.
	Username, Password string
	// Subject and Body are text/template overrides of the defaults; see
	// Templates.
	Subject, Body string
	// InsecureSkipVerify accepts any certificate in STARTTLS. Tests only.
	InsecureSkipVerify bool
	// RootCAs verifies the server's certificate; nil means the system roots.
	RootCAs *x509.CertPool
}

// SMTPSender mails events. STARTTLS is used whenever the server offers it,
// with a verified certificate.
type SMTPSender struct {
	addr, host string
	from       *mail.Address
	to         []*mail.Address
	user, pass string
	tmpl       *Templates
	tls        *tls.Config
}

// NewSMTP checks cfg and parses its templates.
func NewSMTP(cfg SMTPConfig) (*SMTPSender, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("email: smtp address %q: want host:port", cfg.Addr)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("email: from address %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("email: no recipient (to)")
	}
	to := make([]*mail.Address, len(cfg.To))
	for i, s := range cfg.To {
		if to[i], err = mail.ParseAddress(s); err != nil {
			return nil, fmt.Errorf("email: to[%d] address %q: %w", i, s, err)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("email: a password without a username")
	}
	tmpl, err := NewTemplates(cfg.Subject, cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return &SMTPSender{
		addr: cfg.Addr, host: host, from: from, to: to,
		user: cfg.Username, pass: cfg.Password, tmpl: tmpl,
		tls: &tls.Config{
			ServerName:         host,
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // opt-in, for tests
			MinVersion:         tls.VersionTLS12,
		},
	}, nil
}

// Send renders ev and mails it to every recipient.
func (s *SMTPSender) Send(ctx context.Context, ev Event) error {
	subject, body, err := s.tmpl.Render(ev)
	if err != nil {
		return Permanent(fmt.Errorf("email: %w", err))
	}
	now := time.Now()
	id, err := newMessageID(s.from, now)
	if err != nil {
		return fmt.Errorf("email: %w", err)
	}
	msg, err := buildMessage(s.from, s.to, ev.Kind, subject, body, now, id)
	if err != nil {
		return Permanent(fmt.Errorf("email: %w", err))
	}
	if err := s.deliver(ctx, msg); err != nil {
		return fmt.Errorf("email via %s: %w", s.addr, classify(err))
	}
	return nil
}

func (s *SMTPSender) deliver(ctx context.Context, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	// net/smtp takes no context: the deadline bounds every step, and a
	// cancel unblocks whatever is waiting.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("greeting: %w", err))
	}
	defer c.Close()
	secure := false
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.tls); err != nil {
			return ctxErr(ctx, fmt.Errorf("starttls: %w", err))
		}
		secure = true
	}
	if s.user != "" {
		if !secure && !isLoopback(s.host) {
			return Permanent(errors.New("the server does not offer STARTTLS: not sending the password in clear"))
		}
		ok, mechs := c.Extension("AUTH")
		if !ok || !containsFold(strings.Fields(mechs), "PLAIN") {
			return Permanent(errors.New("the server does not offer AUTH PLAIN"))
		}
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return ctxErr(ctx, fmt.Errorf("auth: %w", err))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return ctxErr(ctx, fmt.Errorf("mail from %s: %w", s.from.Address, err))
	}
	for _, a := range s.to {
		if err := c.Rcpt(a.Address); err != nil {
			return ctxErr(ctx, fmt.Errorf("rcpt to %s: %w", a.Address, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return ctxErr(ctx, fmt.Errorf("data: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return ctxErr(ctx, fmt.Errorf("write message: %w", err))
	}
	if err := w.Close(); err != nil {
		return ctxErr(ctx, fmt.Errorf("end message: %w", err))
	}
	// The message is accepted once DATA ends; a failed QUIT loses nothing.
	_ = c.Quit()
	return nil
}

// ctxErr makes a step that failed because ctx ended say so (the connection
// error alone reads "i/o timeout").
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return err
}

// classify marks what a retry cannot fix: a 5xx reply (bad recipient,
// wrong password, message refused) or a certificate that does not verify.
func classify(err error) error {
	var te *textproto.Error
	var cv *tls.CertificateVerificationError
	if (errors.As(err, &te) && te.Code >= 500) || errors.As(err, &cv) {
		return Permanent(err)
	}
	return err
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
