package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps what the callbacks were handed.
type recorder struct {
	mu       sync.Mutex
	registry [][]RegistryEvent
	pushes   []PushEvent
}

func (rc *recorder) onRegistry(_ context.Context, evs []RegistryEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.registry = append(rc.registry, evs)
}

func (rc *recorder) onPush(_ context.Context, ev PushEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.pushes = append(rc.pushes, ev)
}

func TestHandler(t *testing.T) {
	manifest := readSample(t, "registry-manifest-push.json")
	batch := readSample(t, "registry-batch.json")
	gitea := readSample(t, "push-gitea.json")
	bearer := map[string]string{"Authorization": "Bearer " + testSecret}
	tests := []struct {
		name       string
		secret     string
		limit      int64
		method     string
		path       string
		headers    map[string]string
		body       []byte
		wantStatus int
		wantCalls  int // registry callbacks + push callbacks
		wantEvents int // events handed to the registry callback
		wantLogged int // "registry push" / "git push" log lines
	}{
		{name: "registry push with bearer", method: "POST", path: "/hooks/registry", headers: bearer, body: manifest, wantStatus: 202, wantCalls: 1, wantEvents: 1, wantLogged: 1},
		{name: "registry batch with HMAC", method: "POST", path: "/hooks/registry", headers: map[string]string{SignatureHeader: sign(testSecret, batch)}, body: batch, wantStatus: 202, wantCalls: 1, wantEvents: 3, wantLogged: 3},
		{name: "blob push accepted, nothing handed on", method: "POST", path: "/hooks/registry", headers: bearer, body: readSample(t, "registry-blob-push.json"), wantStatus: 202},
		{name: "git push", method: "POST", path: "/hooks/git", headers: map[string]string{SignatureHeader: sign(testSecret, gitea)}, body: gitea, wantStatus: 202, wantCalls: 1, wantLogged: 1},
		{name: "git push signed by GitHub", method: "POST", path: "/hooks/git", headers: map[string]string{GitHubSignatureHeader: sign(testSecret, gitea)}, body: gitea, wantStatus: 202, wantCalls: 1, wantLogged: 1},
		{name: "git push signed with a timestamp", method: "POST", path: "/hooks/git", headers: signedAt(gitea, time.Now()), body: gitea, wantStatus: 202, wantCalls: 1, wantLogged: 1},
		{name: "signed timestamp too old", method: "POST", path: "/hooks/git", headers: signedAt(gitea, time.Now().Add(-10*time.Minute)), body: gitea, wantStatus: 401},
		{name: "missing credentials", method: "POST", path: "/hooks/registry", body: manifest, wantStatus: 401},
		{name: "wrong bearer", method: "POST", path: "/hooks/registry", headers: map[string]string{"Authorization": "Bearer guess"}, body: manifest, wantStatus: 401},
		{name: "wrong signature", method: "POST", path: "/hooks/git", headers: map[string]string{SignatureHeader: sign("guess", gitea)}, body: gitea, wantStatus: 401},
		{name: "malformed signature", method: "POST", path: "/hooks/git", headers: map[string]string{SignatureHeader: "sha256=xyz"}, body: gitea, wantStatus: 401},
		{name: "signature of another body", method: "POST", path: "/hooks/registry", headers: map[string]string{SignatureHeader: sign(testSecret, gitea)}, body: manifest, wantStatus: 401},
		{name: "empty secret", secret: "-", method: "POST", path: "/hooks/registry", headers: map[string]string{"Authorization": "Bearer "}, body: manifest, wantStatus: 401},
		{name: "oversized", limit: 100, method: "POST", path: "/hooks/registry", headers: bearer, body: manifest, wantStatus: 413},
		{name: "at the limit", limit: int64(len(manifest)), method: "POST", path: "/hooks/registry", headers: bearer, body: manifest, wantStatus: 202, wantCalls: 1, wantEvents: 1, wantLogged: 1},
		{name: "bad JSON", method: "POST", path: "/hooks/registry", headers: bearer, body: []byte(`{"events": [`), wantStatus: 400},
		{name: "push without ref", method: "POST", path: "/hooks/git", headers: bearer, body: readSample(t, "ping-github.json"), wantStatus: 400},
		{name: "GET", method: "GET", path: "/hooks/registry", headers: bearer, wantStatus: 405},
		{name: "PUT", method: "PUT", path: "/hooks/git", headers: bearer, body: gitea, wantStatus: 405},
		{name: "unknown hook", method: "POST", path: "/hooks/nope", headers: bearer, body: manifest, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := testSecret
			if tt.secret == "-" {
				secret = ""
			}
			var logs bytes.Buffer
			rc := &recorder{}
			h := New(HandlerOptions{Verifier: NewVerifier(secret), MaxBody: tt.limit, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnRegistry: rc.onRegistry, OnPush: rc.onPush})
			srv := httptest.NewServer(h)
			defer srv.Close()

			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, msg, tt.wantStatus)
			}
			if tt.wantStatus == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
			if tt.wantStatus == 400 && !strings.Contains(string(msg), "push event") && !strings.Contains(string(msg), "registry notification") {
				t.Errorf("400 body does not say what was wrong: %s", msg)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if calls := len(rc.registry) + len(rc.pushes); calls != tt.wantCalls {
				t.Errorf("callbacks called %d times, want %d", calls, tt.wantCalls)
			}
			events := 0
			for _, evs := range rc.registry {
				events += len(evs)
			}
			if events != tt.wantEvents {
				t.Errorf("registry callback got %d events, want %d", events, tt.wantEvents)
			}
			logged := strings.Count(logs.String(), `msg="registry push"`) + strings.Count(logs.String(), `msg="git push"`)
			if logged != tt.wantLogged {
				t.Errorf("%d accepted-event log lines, want %d:\n%s", logged, tt.wantLogged, logs.String())
			}
			if strings.Contains(logs.String()+string(msg), testSecret) {
				t.Errorf("the secret reached a log or a response:\n%s\n%s", logs.String(), msg)
			}
		})
	}
}

// signedAt is the headers of a call signed with a timestamp.
func signedAt(body []byte, t time.Time) map[string]string {
	sig, ts := signAt(testSecret, body, t)
	return map[string]string{SignatureHeader: sig, TimestampHeader: ts}
}

// TestHandlerRefusesReplay: the same timestamped, signed call sent twice
// is handed on once; the second gets 409 Conflict.
func TestHandlerRefusesReplay(t *testing.T) {
	rc := &recorder{}
	srv := httptest.NewServer(New(HandlerOptions{Verifier: NewVerifier(testSecret), OnPush: rc.onPush}))
	defer srv.Close()
	body := readSample(t, "push-gitea.json")
	headers := signedAt(body, time.Now())
	for i, want := range []int{http.StatusAccepted, http.StatusConflict} {
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/git", bytes.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("call %d: status %d (%s), want %d", i+1, resp.StatusCode, msg, want)
		}
	}
	if len(rc.pushes) != 1 {
		t.Errorf("push handed on %d times, want once", len(rc.pushes))
	}
}

// TestHandlerHandsOnEvents checks what the callbacks receive, and that their
// context outlives the request.
func TestHandlerHandsOnEvents(t *testing.T) {
	done := make(chan context.Context, 1)
	var got PushEvent
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), OnPush: func(ctx context.Context, ev PushEvent) {
		got = ev
		done <- ctx
	}})
	body := readSample(t, "push-gitlab.json")
	r := httptest.NewRequest("POST", "/hooks/git", bytes.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+testSecret)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	want := PushEvent{Ref: "refs/heads/main", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Repository: "https://gitlab.example/platform/fleet.git"}
	if got != want {
		t.Errorf("push event %+v, want %+v", got, want)
	}
	if ctx := <-done; ctx.Done() != nil {
		t.Error("callback context can be cancelled with the request")
	}

	// With no registry callback the endpoint is not served.
	r = httptest.NewRequest("POST", "/hooks/registry", bytes.NewReader(readSample(t, "registry-manifest-push.json")))
	r.Header.Set("Authorization", "Bearer "+testSecret)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("registry hook without a callback: status %d, want 404", w.Code)
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		limit   int64
		tooBig  bool
		wantLen int
	}{
		{"under", 10, 11, false, 10},
		{"exactly", 11, 11, false, 11},
		{"one over", 12, 11, true, 0},
		{"default limit", DefaultMaxBody, 0, false, DefaultMaxBody},
		{"over default limit", DefaultMaxBody + 1, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", tt.size)))
			b, err := ReadBody(httptest.NewRecorder(), r, tt.limit)
			var tl *TooLargeError
			if isTooBig := err != nil && errors.As(err, &tl); isTooBig != tt.tooBig {
				t.Fatalf("ReadBody error %v, want too large: %v", err, tt.tooBig)
			}
			if !tt.tooBig && (err != nil || len(b) != tt.wantLen) {
				t.Fatalf("ReadBody = %d bytes, %v; want %d", len(b), err, tt.wantLen)
			}
		})
	}
}

// TestLogsClipValues (H8): values from an authenticated sender reach the
// log cut to 100 characters: a 100,000-character app label or a
// 200,000-character ref made log lines of that size.
func TestLogsClipValues(t *testing.T) {
	var logs bytes.Buffer
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnPush: func(context.Context, PushEvent) {}, OnAlerts: func(context.Context, []AlertEvent) {}})
	huge := strings.Repeat("x", 200_000)
	send := func(path string, body []byte) {
		t.Helper()
		r := httptest.NewRequest("POST", path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+testSecret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 300 {
			t.Fatalf("%s: status %d: %s", path, w.Code, w.Body)
		}
	}
	send("/hooks/git", []byte(strings.Replace(string(readSample(t, "push-gitlab.json")), `"refs/heads/main"`, `"refs/heads/`+huge+`"`, 1)))
	send("/hooks/alertmanager", []byte(strings.Replace(string(readSample(t, "alertmanager-firing.json")), `"app":"checkout"`, `"app":"`+huge+`"`, 1)))
	if !strings.Contains(logs.String(), "alert accepted") || !strings.Contains(logs.String(), "git push") {
		t.Fatalf("the events were not logged:\n%.2000s", logs.String())
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 2000 {
			t.Errorf("a log line of %d bytes: %.200s…", len(line), line)
		}
	}
}
