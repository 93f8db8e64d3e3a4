package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/hmacsig"
	"github.com/ferry-dev/ferry/internal/httpx"
)

// WebhookConfig configures the generic webhook: each event is POSTed as
// the JSON of Event (see its field names).
type WebhookConfig struct {
	URL string
	// Token is sent as "Authorization: Bearer <token>"; ferry refuses to
	// send it over plain HTTP to a host other than loopback.
	Token string
	// Secret signs each call: "X-Ferry-Signature: sha256=<hex HMAC-SHA256
	// of "<X-Ferry-Timestamp>.<body>">", the scheme ferry's own webhooks
	// accept (internal/hmacsig).
	Secret string
	// Client sends the requests; nil means httpx's with a 30 s bound.
	// Either way no credential follows a redirect to another origin.
	Client *http.Client
}

// WebhookSender POSTs events as JSON.
type WebhookSender struct{ p poster }

// NewWebhook checks cfg.
func NewWebhook(cfg WebhookConfig) (*WebhookSender, error) {
	p, err := newPoster("webhook", cfg.URL, cfg.Token != "", cfg.Client)
	if err != nil {
		return nil, err
	}
	p.token, p.secret = cfg.Token, cfg.Secret
	return &WebhookSender{p: p}, nil
}

// Send POSTs the JSON of ev.
func (w *WebhookSender) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return Permanent(fmt.Errorf("%s: encode event: %w", w.p.name, err))
	}
	return w.p.post(ctx, ev.Kind, body)
}

// SlackConfig configures a Slack-compatible incoming webhook (Slack,
// Mattermost, Rocket.Chat).
type SlackConfig struct {
	// URL is the incoming-webhook URL. It is the secret: it never appears
	// in errors or logs, and must be https unless the host is loopback.
	URL string
	// Subject and Body override the default templates (see Templates): the
	// subject is the message's text (what notifications show), the body
	// its mrkdwn section.
	Subject, Body string
	Client        *http.Client
}

// SlackSender POSTs {"text": ..., "blocks": [section]} messages.
type SlackSender struct {
	p    poster
	tmpl *Templates
}

// NewSlack checks cfg and parses its templates.
func NewSlack(cfg SlackConfig) (*SlackSender, error) {
	p, err := newPoster("slack", cfg.URL, true, cfg.Client)
	if err != nil {
		return nil, err
	}
	tmpl, err := NewTemplates(cfg.Subject, cfg.Body)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return &SlackSender{p: p, tmpl: tmpl}, nil
}

// maxSection is Slack's limit on a section's text.
const maxSection = 3000

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// Send renders ev and POSTs it.
func (s *SlackSender) Send(ctx context.Context, ev Event) error {
	body, err := s.payload(ev)
	if err != nil {
		return Permanent(fmt.Errorf("slack: %w", err))
	}
	return s.p.post(ctx, ev.Kind, body)
}

func (s *SlackSender) payload(ev Event) ([]byte, error) {
	subject, body, err := s.tmpl.Render(ev)
	if err != nil {
		return nil, err
	}
	section := truncate("*"+mrkdwn(subject)+"*\n"+mrkdwn(strings.TrimRight(body, "\n")), maxSection)
	return json.Marshal(slackMessage{
		Text:   mrkdwn(subject),
		Blocks: []slackBlock{{Type: "section", Text: &slackText{Type: "mrkdwn", Text: section}}},
	})
}

// mrkdwn escapes the three characters Slack gives meaning to (links,
// mentions), so event text cannot ping a channel or forge a link.
var mrkdwn = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// RequestTimeout bounds one POST of the default client; the Dispatcher's
// per-send timeout (10 s by default) usually ends it first.
const RequestTimeout = 30 * time.Second

// maxAnswer is what is read of a receiver's answer: a snippet for the
// error and enough to let the connection be reused.
const maxAnswer = 64 << 10

// poster POSTs JSON to one URL, naming it in errors by scheme and host only:
// paths and queries of webhook URLs often hold secrets.
type poster struct {
	name          string
	url           string
	client        *http.Client
	token, secret string
}

func newPoster(kind, raw string, secret bool, client *http.Client) (poster, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		// url.Parse's error quotes the URL: name only what is wrong.
		return poster{}, fmt.Errorf("%s: URL must be an absolute http or https URL", kind)
	}
	name := kind + " " + u.Scheme + "://" + u.Host
	if u.Scheme == "http" && secret && !isLoopback(u.Hostname()) {
		return poster{}, fmt.Errorf("%s: refusing plain http to a host other than loopback: it would send a secret in clear", name)
	}
	// The answer is read only as a snippet for errors, but a receiver that
	// streams forever must not hold the reader either.
	client = httpx.Harden(client, httpx.Timeouts{Request: RequestTimeout}, func(*http.Request) (string, int64) {
		return name, maxAnswer
	})
	return poster{name: name, url: raw, client: client}, nil
}

func (p poster) post(ctx context.Context, kind Kind, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("%s: new request: %w", p.name, httpx.RedactError(err, httpx.Origin)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry-notify")
	req.Header.Set("X-Ferry-Event", oneLine(string(kind), 64))
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	if p.secret != "" {
		// The time sent is signed too, so a receiver can refuse a replay.
		ts := time.Now().Unix()
		req.Header.Set(hmacsig.TimestampHeader, strconv.FormatInt(ts, 10))
		req.Header.Set(hmacsig.SignatureHeader, hmacsig.Sign([]byte(p.secret), body, ts))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, httpx.RedactError(err, httpx.Origin))
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	httpx.Drain(resp, maxAnswer) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("%s: status %s: %s", p.name, resp.Status, oneLine(string(snippet), 200))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooEarly,
		resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return err
	}
	return Permanent(err) // the receiver refused this request: sending it again changes nothing
}
