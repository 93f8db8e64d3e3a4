package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testLogger(buf *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// observed forwards to a real sender and reports each attempt's error.
type observed struct {
	Sender
	attempts chan error
}

func (o observed) Send(ctx context.Context, ev Event) error {
	err := o.Sender.Send(ctx, ev)
	o.attempts <- err
	return err
}

func webhookTo(t *testing.T, url string) *WebhookSender {
	t.Helper()
	w, err := NewWebhook(WebhookConfig{URL: url, Token: "TOKENSECRET", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func closeNow(t *testing.T, d *Dispatcher) {
	t.Helper()
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A receiver answering 500 twice then 200 gets the event delivered once,
// after two retries.
func TestDispatcherRetriesThenDelivers(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 200)
	d := NewDispatcher(map[string]Sender{"hook": webhookTo(t, rcv.URL)}, Options{Backoff: time.Millisecond, Logger: testLogger(&lockedBuffer{})})
	d.Start(context.Background())
	d.Notify(sampleEvent(Promotion))
	closeNow(t, d)
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if n := len(rcv.delivered()); n != 1 {
		t.Errorf("delivered %d times, want once", n)
	}
	if got, want := d.Stats(), (Stats{Sent: 1, Retries: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// An SMTP server that is down (connection refused) is retried, then given
// up on; what reaches the log holds neither password nor token.
func TestDispatcherDeadReceiverGivesUp(t *testing.T) {
	cfg := smtpConfig("127.0.0.1:" + freePort(t, "127.0.0.1"))
	cfg.Username, cfg.Password = "ferry", "PASSWORDSECRET"
	s := observed{newSMTP(t, cfg), make(chan error, 10)}
	logs := &lockedBuffer{}
	d := NewDispatcher(map[string]Sender{"email": s}, Options{Retries: 2, Backoff: time.Millisecond, Logger: testLogger(logs)})
	d.Start(context.Background())
	d.Notify(sampleEvent(Rollback))
	closeNow(t, d)
	close(s.attempts)
	n := 0
	for err := range s.attempts {
		n++
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("attempt %d: %v", n, err)
		}
	}
	if n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if got, want := d.Stats(), (Stats{Failed: 1, Retries: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	out := logs.String()
	if !strings.Contains(out, "giving up") || !strings.Contains(out, "connection refused") {
		t.Errorf("log does not say it gave up:\n%s", out)
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log shows a secret:\n%s", out)
	}
}

// Notify never waits: with the only worker stuck retrying a dead server,
// 1000 events fill the small queue and the rest are dropped and counted.
// If Notify blocked, the handshake below would never complete.
func TestNotifyNeverBlocks(t *testing.T) {
	const queue, events = 4, 1000
	s := observed{newSMTP(t, smtpConfig("127.0.0.1:"+freePort(t, "127.0.0.1"))), make(chan error, 1)}
	d := NewDispatcher(map[string]Sender{"email": s}, Options{
		QueueSize: queue, Retries: 3, Backoff: time.Hour, Logger: testLogger(&lockedBuffer{}),
	})
	d.Start(context.Background())
	d.Notify(sampleEvent(Promotion))
	// The worker has taken the first event and now waits an hour to retry.
	if err := <-s.attempts; !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("first attempt: %v", err)
	}
	returned := make(chan int)
	go func() {
		n := 0
		for range events {
			d.Notify(sampleEvent(Denial))
			n++
		}
		returned <- n
	}()
	if n := <-returned; n != events {
		t.Fatalf("%d Notify calls returned, want %d", n, events)
	}
	if got := d.Stats().Dropped; got != events-queue {
		t.Errorf("dropped %d, want %d", got, events-queue)
	}
	// Close with no time left abandons the retrying event and the queue.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Close(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "5 deliveries abandoned") {
		t.Errorf("Close: %v", err)
	}
	if got, want := d.Stats(), (Stats{Dropped: events + 1, Retries: 1}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

// Close delivers everything queued before it returns, over SMTP and HTTP.
func TestCloseDrains(t *testing.T) {
	sink := startSink(t, "")
	rcv := newReceiver(t)
	d := NewDispatcher(map[string]Sender{
		"email": newSMTP(t, smtpConfig(sink.addr)),
		"hook":  webhookTo(t, rcv.URL),
	}, Options{QueueSize: 64, Logger: testLogger(&lockedBuffer{})})
	const events = 20
	for range events {
		d.Notify(sampleEvent(AnalysisFailed))
	}
	d.Start(context.Background())
	closeNow(t, d)
	if got, want := d.Stats(), (Stats{Sent: 2 * events}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if n := len(rcv.delivered()); n != events {
		t.Errorf("webhook got %d, want %d", n, events)
	}
	if n := len(sink.messages(t)); n != events {
		t.Errorf("sink got %d, want %d", n, events)
	}
	// After Close, Notify drops; a second Close is a no-op.
	d.Notify(sampleEvent(AnalysisFailed))
	closeNow(t, d)
	if got := d.Stats().Dropped; got != 2 {
		t.Errorf("dropped %d after Close, want 2 (one per sender)", got)
	}
}

// Kinds routes: the ops hook hears only rollbacks, the team hook everything.
func TestDispatcherKinds(t *testing.T) {
	ops, team := newReceiver(t), newReceiver(t)
	d := NewDispatcher(map[string]Sender{"ops": webhookTo(t, ops.URL), "team": webhookTo(t, team.URL)},
		Options{Kinds: map[string][]Kind{"ops": {Rollback}, "gone": {Denial}}, Logger: testLogger(&lockedBuffer{})})
	d.Start(context.Background())
	for _, k := range Kinds {
		d.Notify(sampleEvent(k))
	}
	closeNow(t, d)
	if n := len(ops.delivered()); n != 1 || !strings.Contains(string(ops.delivered()[0]), `"kind":"rollback"`) {
		t.Errorf("ops got %d events", n)
	}
	if n := len(team.delivered()); n != len(Kinds) {
		t.Errorf("team got %d events, want %d", n, len(Kinds))
	}
}

// A refused request (4xx) is not retried; a send that outlives Timeout
// fails; a panicking sender fails its event, not the agent.
func TestDispatcherFailures(t *testing.T) {
	// It reads the body first: only then does net/http notice the client
	// hanging up and end the request's context.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	tests := []struct {
		name        string
		sender      func(t *testing.T) Sender
		wantRetries uint64
		wantLog     string
	}{
		{"bad request", func(t *testing.T) Sender { return webhookTo(t, newReceiver(t, 400).URL) }, 0, "400 Bad Request"},
		{"timeout", func(t *testing.T) Sender { return webhookTo(t, hang.URL) }, 1, "deadline exceeded"},
		{"panic", func(t *testing.T) Sender { return panicky{} }, 0, "sender panicked: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &lockedBuffer{}
			d := NewDispatcher(map[string]Sender{"s": tt.sender(t)}, Options{
				Retries: 1, Backoff: time.Millisecond, Timeout: 50 * time.Millisecond, Logger: testLogger(logs),
			})
			d.Start(context.Background())
			d.Notify(sampleEvent(Promotion))
			closeNow(t, d)
			if got, want := d.Stats(), (Stats{Failed: 1, Retries: tt.wantRetries}); got != want {
				t.Errorf("stats %+v, want %+v", got, want)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
			if strings.Contains(logs.String(), "SECRET") {
				t.Errorf("log shows the token:\n%s", logs)
			}
		})
	}
}

type panicky struct{}

func (panicky) Send(context.Context, Event) error { panic("boom") }

// Close without Start counts what was queued as dropped.
func TestCloseWithoutStart(t *testing.T) {
	d := NewDispatcher(map[string]Sender{"s": panicky{}, "nil": nil}, Options{Logger: testLogger(&lockedBuffer{})})
	d.Notify(sampleEvent(Promotion))
	d.Notify(sampleEvent(Denial))
	closeNow(t, d)
	if got, want := d.Stats(), (Stats{Dropped: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		base     time.Duration
		attempt  int
		min, max time.Duration
	}{
		{time.Second, 0, 500 * time.Millisecond, time.Second},
		{time.Second, 3, 4 * time.Second, 8 * time.Second},
		{time.Second, 40, maxBackoff / 2, maxBackoff},
		{2 * time.Minute, 5, time.Minute, 2 * time.Minute}, // a base above the cap is kept
	}
	for _, tt := range tests {
		for range 100 {
			bo := newBackoff(tt.base)
			var got time.Duration
			for range tt.attempt + 1 {
				got = bo.Step()
			}
			if got < tt.min || got > tt.max {
				t.Fatalf("backoff(%v) after %d retries = %v, want in [%v, %v]", tt.base, tt.attempt, got, tt.min, tt.max)
			}
		}
	}
}
