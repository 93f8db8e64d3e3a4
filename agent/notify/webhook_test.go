package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// receiver is an HTTP endpoint that records requests and answers with the
// next status of a script (200 once the script is used up).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	reqs     []recorded
}

type recorded struct {
	header http.Header
	path   string
	body   []byte
	status int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil || req.Method != http.MethodPost {
			http.Error(w, "want a POST with a body", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.reqs = append(r.reqs, recorded{req.Header.Clone(), req.URL.Path, body, status})
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("answer " + http.StatusText(status)))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// delivered returns the bodies the receiver accepted (2xx).
func (r *receiver) delivered() [][]byte {
	var out [][]byte
	for _, q := range r.requests() {
		if q.status/100 == 2 {
			out = append(out, q.body)
		}
	}
	return out
}

func TestWebhook(t *testing.T) {
	rcv := newReceiver(t)
	const token, secret = "tok-123456", "hmac-secret"
	tests := []struct {
		name          string
		token, secret string
	}{
		{"plain", "", ""},
		{"bearer and signature", token, secret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWebhook(WebhookConfig{URL: rcv.URL + "/hook?x=1", Token: tt.token, Secret: tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			before := len(rcv.requests())
			if err := w.Send(sendCtx(t), sampleEvent(Promotion)); err != nil {
				t.Fatal(err)
			}
			reqs := rcv.requests()
			if len(reqs) != before+1 {
				t.Fatalf("%d requests, want %d", len(reqs), before+1)
			}
			q := reqs[len(reqs)-1]
			golden(t, "webhook/promotion.json", indent(t, q.body))
			if ct := q.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if ev := q.header.Get("X-Ferry-Event"); ev != "promotion" {
				t.Errorf("X-Ferry-Event %q", ev)
			}
			wantAuth := ""
			if tt.token != "" {
				wantAuth = "Bearer " + tt.token
			}
			if got := q.header.Get("Authorization"); got != wantAuth {
				t.Errorf("Authorization %q, want %q", got, wantAuth)
			}
			sig := q.header.Get("X-Ferry-Signature")
			if tt.secret == "" {
				if sig != "" {
					t.Errorf("unexpected signature %q", sig)
				}
				return
			}
			// Signed: "<X-Ferry-Timestamp>.<body>", the timestamp in unix seconds.
			ts := q.header.Get("X-Ferry-Timestamp")
			if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
				t.Errorf("X-Ferry-Timestamp %q is not unix seconds", ts)
			}
			m := hmac.New(sha256.New, []byte(tt.secret))
			m.Write([]byte(ts + "."))
			m.Write(q.body)
			if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); sig != want {
				t.Errorf("X-Ferry-Signature %q, want %q", sig, want)
			}
			var back Event
			if err := json.Unmarshal(q.body, &back); err != nil || back.App != "app" || back.Kind != Promotion || len(back.Reasons) != 2 {
				t.Errorf("body does not decode to the event: %+v, %v", back, err)
			}
		})
	}
}

func TestSlack(t *testing.T) {
	rcv := newReceiver(t)
	s, err := NewSlack(SlackConfig{URL: rcv.URL + "/services/T0/B0/XXXX"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			if err := s.Send(sendCtx(t), sampleEvent(k)); err != nil {
				t.Fatal(err)
			}
			reqs := rcv.requests()
			q := reqs[len(reqs)-1]
			golden(t, "slack/"+string(k)+".json", indent(t, q.body))
			if q.path != "/services/T0/B0/XXXX" || q.header.Get("Authorization") != "" {
				t.Errorf("path %q, Authorization %q", q.path, q.header.Get("Authorization"))
			}
		})
	}
}

// Event text cannot mention @channel or forge a link in Slack, and a long
// body is cut to Slack's section limit.
func TestSlackEscapes(t *testing.T) {
	s, err := NewSlack(SlackConfig{URL: "http://127.0.0.1:1/x"})
	if err != nil {
		t.Fatal(err)
	}
	ev := sampleEvent(Denial)
	ev.App = "<!channel> <https://evil.example|click> & co"
	ev.Reasons = []string{strings.Repeat("x", 4000)}
	body, err := s.payload(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m slackMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	section := m.Blocks[0].Text.Text
	for _, text := range []string{m.Text, section} {
		if strings.ContainsAny(text, "<>") || !strings.Contains(text, "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co") {
			t.Errorf("not escaped: %q", text[:min(len(text), 120)])
		}
	}
	if n := len([]rune(section)); n != maxSection {
		t.Errorf("section of %d runes, want %d", n, maxSection)
	}
}

func TestPostStatus(t *testing.T) {
	tests := []struct {
		status    int
		wantErr   bool
		permanent bool
	}{
		{200, false, false}, {204, false, false},
		{400, true, true}, {401, true, true}, {404, true, true},
		{408, true, false}, {429, true, false}, {500, true, false}, {503, true, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rcv := newReceiver(t, tt.status)
			w, err := NewWebhook(WebhookConfig{URL: rcv.URL + "/hook"})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Send(sendCtx(t), sampleEvent(Rollback))
			if (err != nil) != tt.wantErr || IsPermanent(err) != tt.permanent {
				t.Fatalf("status %d: err %v, permanent %v", tt.status, err, IsPermanent(err))
			}
			if err != nil && (!strings.Contains(err.Error(), "answer "+http.StatusText(tt.status)) || strings.Contains(err.Error(), "/hook")) {
				t.Errorf("error should quote the answer but not the path: %v", err)
			}
		})
	}
}

// URLs (which hold Slack's secret) and tokens never appear in errors.
func TestPosterSecretsNotInErrors(t *testing.T) {
	dead := "127.0.0.1:" + freePort(t, "127.0.0.1")
	slack, err := NewSlack(SlackConfig{URL: "http://" + dead + "/services/T0/B0/SLACKSECRET"})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := NewWebhook(WebhookConfig{URL: "http://" + dead + "/h?key=QUERYSECRET", Token: "TOKENSECRET"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Sender{slack, hook} {
		err := s.Send(sendCtx(t), sampleEvent(Promotion))
		if !errors.Is(err, syscall.ECONNREFUSED) || IsPermanent(err) {
			t.Fatalf("want a retryable connection refused, got %v", err)
		}
		if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "http://"+dead) {
			t.Errorf("error %q", err)
		}
	}
}

func TestNewPosterErrors(t *testing.T) {
	tests := []struct {
		name    string
		new     func() error
		wantErr string
	}{
		{"relative", func() error { _, err := NewWebhook(WebhookConfig{URL: "/hook"}); return err }, "webhook: URL must be an absolute http or https URL"},
		{"ftp", func() error { _, err := NewWebhook(WebhookConfig{URL: "ftp://example.com/x"}); return err }, "absolute http or https"},
		{"token over http", func() error {
			_, err := NewWebhook(WebhookConfig{URL: "http://example.com/x", Token: "TOKENSECRET"})
			return err
		}, "webhook http://example.com: refusing plain http"},
		{"slack over http", func() error { _, err := NewSlack(SlackConfig{URL: "http://hooks.example.com/SLACKSECRET"}); return err }, "slack http://hooks.example.com: refusing plain http"},
		{"slack bad URL", func() error { _, err := NewSlack(SlackConfig{URL: "https://%zzSLACKSECRET"}); return err }, "slack: URL must be"},
		{"slack bad template", func() error { _, err := NewSlack(SlackConfig{URL: "https://h.example.com/x", Body: "{{"}); return err }, "slack: body template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.new()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want error with %q, got %v", tt.wantErr, err)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
	// Plain http is fine for loopback, or without a secret to protect.
	for _, cfg := range []WebhookConfig{{URL: "http://127.0.0.1:9/x", Token: "t"}, {URL: "http://example.com/x", Secret: "s"}} {
		if _, err := NewWebhook(cfg); err != nil {
			t.Errorf("%s: %v", cfg.URL, err)
		}
	}
}

func indent(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
