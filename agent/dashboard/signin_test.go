package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

const (
	testClientID     = "ferry-dashboard"
	testClientSecret = "s3cret-client-value"
)

// person is who the fake provider signs in next.
type person struct {
	Name   string
	Groups []string
}

// fakeIdP is an OpenID Connect provider: discovery and keys from oidctest,
// and an authorization endpoint that signs the configured person in at once
// (no login form), a token endpoint that checks the code, the client's
// secret and the PKCE verifier.
type fakeIdP struct {
	t    *testing.T
	srv  *httptest.Server
	key  *rsa.PrivateKey
	disc *oidctest.Server

	mu    sync.Mutex
	who   person
	codes map[string]authReq
	// tamper changes the ID token's claims before signing (wrong nonce,
	// audience, issuer, expiry).
	tamper func(map[string]any)
}

type authReq struct {
	who       person
	nonce     string
	challenge string
}

func newFakeIdP(t *testing.T) *fakeIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIdP{t: t, key: key, codes: map[string]authReq{},
		disc: &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.RS256}}}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	f.disc.SetIssuer(f.srv.URL)
	return f
}

func (f *fakeIdP) signInAs(name string, groups ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.who = person{name, groups}
}

func (f *fakeIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/auth":
		q := r.URL.Query()
		if q.Get("client_id") != testClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
			!strings.Contains(q.Get("scope"), "openid") || q.Get("nonce") == "" || q.Get("state") == "" {
			http.Error(w, "bad authorization request: "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		code := randomString()
		f.mu.Lock()
		f.codes[code] = authReq{who: f.who, nonce: q.Get("nonce"), challenge: q.Get("code_challenge")}
		f.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	case "/token":
		_ = r.ParseForm()
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		f.mu.Lock()
		req, found := f.codes[r.PostForm.Get("code")]
		delete(f.codes, r.PostForm.Get("code"))
		tamper := f.tamper
		f.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case id != testClientID || secret != testClientSecret:
			tokenError(w, "invalid_client")
			return
		case !found:
			tokenError(w, "invalid_grant")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != req.challenge:
			tokenError(w, "invalid_grant")
			return
		}
		cl := map[string]any{"iss": f.srv.URL, "aud": testClientID, "sub": "uid-" + req.who.Name,
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "nonce": req.nonce,
			"preferred_username": req.who.Name, "email": req.who.Name + "@example.com", "groups": req.who.Groups}
		if tamper != nil {
			tamper(cl)
		}
		b, _ := json.Marshal(cl)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600,
			"id_token": oidctest.SignIDToken(f.key, "k1", oidc.RS256, string(b))})
	default:
		f.disc.ServeHTTP(w, r)
	}
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = fmt.Fprintf(w, `{"error":%q}`, code)
}

// call is one action the fake agent was asked for.
type call struct {
	Action, App, Env, Version, To, Reason string
	By                                    ledger.Actor
	Groups                                []string
}

// fakeActions records what the dashboard asks of the agent.
type fakeActions struct {
	mu     sync.Mutex
	calls  []call
	refuse error
	// unchanged: the agent writes nothing and says so with commit "".
	unchanged bool
}

func (f *fakeActions) record(c call) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return "", f.refuse
	}
	f.calls = append(f.calls, c)
	if f.unchanged {
		return "", nil
	}
	return fmt.Sprintf("c0ffee%034d", len(f.calls)), nil
}

func (f *fakeActions) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeActions) Approve(_ context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	return f.record(call{Action: "approve", App: app, Env: env, Version: version, By: by, Groups: groups, Reason: reason})
}
func (f *fakeActions) Reject(_ context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	return f.record(call{Action: "reject", App: app, Env: env, Version: version, By: by, Groups: groups, Reason: reason})
}
func (f *fakeActions) Promote(_ context.Context, app, version, env string, by ledger.Actor, reason string) (string, error) {
	return f.record(call{Action: "promote", App: app, Env: env, Version: version, By: by, Reason: reason})
}
func (f *fakeActions) Rollback(_ context.Context, app, env, to string, by ledger.Actor, reason string) (string, error) {
	return f.record(call{Action: "rollback", App: app, Env: env, To: to, By: by, Reason: reason})
}
func (f *fakeActions) Abort(_ context.Context, app, env string, by ledger.Actor, reason string) (string, error) {
	return f.record(call{Action: "abort", App: app, Env: env, By: by, Reason: reason})
}
func (f *fakeActions) RetryAnalysis(_ context.Context, app, env string) (string, error) {
	return f.record(call{Action: "retry-analysis", App: app, Env: env})
}

// chainSource is checkout running dev -> qa -> prod: 1.4.2 waits for
// approval in prod (0 of 1), qa runs a canary.
type chainSource struct{}

func (chainSource) Pipeline() (*config.Pipeline, error) {
	return &config.Pipeline{Apps: []config.App{{Name: "checkout", Image: "registry.example/shop/checkout"}},
		Environments: []config.Environment{
			{Name: "dev", Overlay: "overlays/dev", Auto: true},
			{Name: "qa", Overlay: "overlays/qa", From: "dev", Auto: true},
			{Name: "prod", Overlay: "overlays/prod", From: "qa"},
		}}, nil
}

func (chainSource) Status(context.Context) ([]Cell, error) {
	return []Cell{
		{App: "checkout", Env: "dev", Version: ledger.Version{Tag: "1.4.2"}},
		{App: "checkout", Env: "qa", Version: ledger.Version{Tag: "1.4.1"},
			Delivery: &Delivery{Strategy: "canary", Version: ledger.Version{Tag: "1.4.2"}, Step: "2/4", Weight: 25},
			Verdict:  &Verdict{Verdict: analysis.Running, Template: "errors"}},
		{App: "checkout", Env: "prod", Version: ledger.Version{Tag: "1.3.9"}},
	}, nil
}

func (chainSource) LastPass() *Pass {
	return &Pass{Pending: []Pending{{App: "checkout", Env: "prod", From: "qa", Mode: "manual",
		Current: ledger.Version{Tag: "1.3.9"}, Candidate: ledger.Version{Tag: "1.4.2"}, Action: "wait",
		Reason:    "awaiting approval: 0 of 1 (needs group:shop:product-owners)",
		Approvals: &Approvals{Required: 1, Count: 0}}}}
}
func (chainSource) Progress() []Analysis                                           { return nil }
func (chainSource) Timeline(context.Context, string, string, int) ([]Event, error) { return nil, nil }

// readmeRoles are the roles the README shows.
var readmeRoles = []config.DashboardRole{
	{Group: "shop:product-owners", Role: config.RoleApprover, Envs: []string{"prod"}},
	{Group: "shop", Role: config.RoleViewer},
	{User: "alice", Role: config.RolePromoter, Envs: []string{"dev", "qa"}},
}

// rig is a dashboard with sign-in over chainSource, served on loopback,
// signing in with the fake provider.
type rig struct {
	t       *testing.T
	idp     *fakeIdP
	srv     *httptest.Server
	actions *fakeActions
	logs    *syncBuffer
	now     time.Time
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newRig(t *testing.T, token string) *rig { return newRigOver(t, token, chainSource{}) }

// newRigOver is newRig over another source.
func newRigOver(t *testing.T, token string, src Source) *rig {
	r := &rig{t: t, idp: newFakeIdP(t), actions: &fakeActions{}, logs: &syncBuffer{}, now: time.Now()}
	var h http.Handler
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { h.ServeHTTP(w, req) }))
	t.Cleanup(r.srv.Close)
	si, err := NewSignIn(context.Background(), SignInConfig{Issuer: r.idp.srv.URL, ClientID: testClientID,
		ClientSecret: testClientSecret, RedirectURL: r.srv.URL + "/callback", Roles: readmeRoles,
		SessionKey: []byte("a session key of thirty-two bytes"), Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h = New(src, Options{SignIn: si, Actions: r.actions, Log: log, Token: token})
	return r
}

// browser is a client with its own cookies that follows redirects.
func (r *rig) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// signIn signs name in through /login and the provider; it returns the
// browser and the pipeline page it landed on.
func (r *rig) signIn(name string, groups ...string) (*http.Client, string) {
	r.t.Helper()
	r.idp.signInAs(name, groups...)
	b := r.browser()
	resp, err := b.Get(r.srv.URL + "/login")
	if err != nil {
		r.t.Fatal(err)
	}
	body := readBody(r.t, resp)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/pipeline" {
		r.t.Fatalf("sign-in of %s ended at %s with %d: %s", name, resp.Request.URL, resp.StatusCode, body)
	}
	return b, body
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return html.UnescapeString(string(b))
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// post submits an action form as a browser would, from origin.
func (r *rig) post(b *http.Client, action, origin string, form url.Values) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/actions/"+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := b.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, readBody(r.t, resp)
}

func approveForm(csrf string) url.Values {
	return url.Values{"app": {"checkout"}, "env": {"prod"}, "version": {"1.4.2"}, "reason": {"release notes reviewed"}, "csrf": {csrf}}
}

// TestSignInApproveFromPipeline: carol of shop:product-owners signs in,
// sees prod's chain with the gate's reason, approvals 0/1 and an Approve
// button, and her approval reaches the agent as carol (dashboard) with her
// groups, audited in one log line.
func TestSignInApproveFromPipeline(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	for _, want := range []string{
		"Signed in as <strong>carol</strong> (shop, shop:product-owners)",
		`<li class="stage" data-env="prod">`,
		"awaiting approval: 0 of 1 (needs group:shop:product-owners)",
		"approvals 0/1",
		`data-action="approve">Approve 1.4.2</button>`,
		`data-action="reject">Reject 1.4.2</button>`,
		"canary step 2/4 · 25%",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the pipeline page lacks %q", want)
		}
	}
	// carol is no promoter anywhere: no promote, rollback or abort button.
	for _, not := range []string{`data-action="promote"`, `data-action="rollback"`, `data-action="abort"`} {
		if strings.Contains(page, not) {
			t.Errorf("carol is offered %s", not)
		}
	}
	code, body := r.post(b, "approve", r.srv.URL, approveForm(csrfOf(t, page)))
	if code != http.StatusOK || !strings.Contains(body, "carol approved checkout 1.4.2 in prod.") {
		t.Fatalf("approve: %d %s", code, body)
	}
	want := call{Action: "approve", App: "checkout", Env: "prod", Version: "1.4.2", Reason: "release notes reviewed",
		By: ledger.Actor{Name: "carol", Via: ledger.ViaDashboard}, Groups: []string{"shop", "shop:product-owners"}}
	if calls := r.actions.Calls(); len(calls) != 1 || fmt.Sprint(calls[0]) != fmt.Sprint(want) {
		t.Fatalf("calls %+v, want %+v", calls, want)
	}
	logs := r.logs.String()
	if !strings.Contains(logs, `msg="dashboard action" user=carol groups="[shop shop:product-owners]" action=approve app=checkout env=prod version=1.4.2 result="commit c0ffee`) {
		t.Errorf("no audit line:\n%s", logs)
	}
	for _, secret := range []string{testClientSecret, "a session key of thirty-two bytes"} {
		if strings.Contains(logs, secret) || strings.Contains(page, secret) || strings.Contains(body, secret) {
			t.Errorf("a secret reached a log or a page")
		}
	}
}

// TestActionNeedsRole: dave (shop only: a viewer) gets 403 naming the role
// he lacks, the agent is not called, and he is shown no buttons. alice, a
// promoter in dev and qa, may not promote in prod either.
func TestActionNeedsRole(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("dave", "shop")
	if strings.Contains(page, `data-action=`) {
		t.Error("a viewer is offered buttons")
	}
	// His page's only form is sign-out's, with his session's token.
	tok := csrfOf(t, page)
	if tok != sessionCSRF(t, r, b) {
		t.Fatal("the page's token is not the session's")
	}
	code, body := r.post(b, "approve", r.srv.URL, approveForm(tok))
	if code != http.StatusForbidden || !strings.Contains(body, "approve needs the approver role in prod; dave has viewer there") {
		t.Fatalf("dave approving: %d %s", code, body)
	}
	b, _ = r.signIn("alice")
	form := approveForm(sessionCSRF(t, r, b))
	code, body = r.post(b, "promote", r.srv.URL, form)
	if code != http.StatusForbidden || !strings.Contains(body, "promote needs the promoter role in prod; alice has none there") {
		t.Fatalf("alice promoting in prod: %d %s", code, body)
	}
	if calls := r.actions.Calls(); len(calls) != 0 {
		t.Fatalf("the agent was called: %+v", calls)
	}
	if !strings.Contains(r.logs.String(), `user=dave groups=[shop] action=approve app=checkout env=prod version=1.4.2 result="forbidden: not approver in prod"`) {
		t.Errorf("the refusal is not audited:\n%s", r.logs.String())
	}
}

// sessionCSRF is the CSRF token of b's session, computed as the server
// does (a viewer's page carries no form to read it from).
func sessionCSRF(t *testing.T, r *rig, b *http.Client) string {
	t.Helper()
	u, _ := url.Parse(r.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			var s session
			if err := (sealer{key: []byte("a session key of thirty-two bytes")}).open(sessionCookie, c.Value, &s); err != nil {
				t.Fatal(err)
			}
			return (sealer{key: []byte("a session key of thirty-two bytes")}).csrf(s.ID)
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestActionCSRF: without the token, with another session's, from another
// origin or with neither Origin nor Referer, an approval is refused with
// 403 and the agent is not called; a same-origin Referer is enough.
func TestActionCSRF(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	_, otherPage := r.signIn("erin", "shop", "shop:product-owners")
	for _, tc := range []struct {
		name, origin, csrf, want string
	}{
		{"no token", r.srv.URL, "", "CSRF token is missing"},
		{"another session's token", r.srv.URL, csrfOf(t, otherPage), "CSRF token is missing or not this session's"},
		{"another origin", "https://evil.example", csrfOf(t, page), "did not come from this dashboard"},
		{"no origin, no referer", "", csrfOf(t, page), "did not come from this dashboard"},
		{"a look-alike origin", r.srv.URL + ".evil.example", csrfOf(t, page), "did not come from this dashboard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := r.post(b, "approve", tc.origin, approveForm(tc.csrf))
			if code != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	if calls := r.actions.Calls(); len(calls) != 0 {
		t.Fatalf("the agent was called: %+v", calls)
	}
	// A Referer of the dashboard stands in for a missing Origin.
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/actions/approve", strings.NewReader(approveForm(csrfOf(t, page)).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", r.srv.URL+"/pipeline")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("same-origin Referer: %d %s", resp.StatusCode, body)
	}
	// Not signed in at all: 403, whatever the form says.
	code, _ := r.post(r.browser(), "approve", r.srv.URL, approveForm(csrfOf(t, page)))
	if code != http.StatusForbidden {
		t.Fatalf("no session: %d", code)
	}
}

// TestActionRefused: the agent's refusal is a 409 page with its reason,
// audited as a refusal.
func TestActionRefused(t *testing.T) {
	r := newRig(t, "")
	r.actions.refuse = errors.New("policy prod denies: 1.4.2 has no passing analysis in qa; run `ferry retry-analysis checkout --env qa`")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	code, body := r.post(b, "approve", r.srv.URL, approveForm(csrfOf(t, page)))
	if code != http.StatusConflict || !strings.Contains(body, "ferry refused: policy prod denies: 1.4.2 has no passing analysis in qa") {
		t.Fatalf("%d %s", code, body)
	}
	if !strings.Contains(r.logs.String(), `result="refused: policy prod denies`) {
		t.Errorf("no audit of the refusal:\n%s", r.logs.String())
	}
}

// TestPromoterButtons: alice, promoter in dev and qa, may abort qa's canary
// and retry its analysis, and the calls carry what the form says.
func TestPromoterButtons(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("alice")
	qa := page[strings.Index(page, `data-env="qa"`):strings.Index(page, `data-env="prod"`)]
	for _, want := range []string{`data-action="rollback"`, `data-action="abort"`, `data-action="retry-analysis"`} {
		if !strings.Contains(qa, want) {
			t.Errorf("qa lacks %s", want)
		}
	}
	if strings.Contains(page[strings.Index(page, `data-env="prod"`):], `data-action=`) {
		t.Error("alice is offered buttons in prod")
	}
	csrf := csrfOf(t, page)
	for _, tc := range []struct {
		action string
		form   url.Values
		want   call
	}{
		{"abort", url.Values{"app": {"checkout"}, "env": {"qa"}, "reason": {"p99 up"}, "csrf": {csrf}},
			call{Action: "abort", App: "checkout", Env: "qa", Reason: "p99 up", By: ledger.Actor{Name: "alice", Via: ledger.ViaDashboard}}},
		{"rollback", url.Values{"app": {"checkout"}, "env": {"dev"}, "to": {"1.4.0"}, "reason": {"bad"}, "csrf": {csrf}},
			call{Action: "rollback", App: "checkout", Env: "dev", To: "1.4.0", Reason: "bad", By: ledger.Actor{Name: "alice", Via: ledger.ViaDashboard}}},
		{"retry-analysis", url.Values{"app": {"checkout"}, "env": {"qa"}, "csrf": {csrf}},
			call{Action: "retry-analysis", App: "checkout", Env: "qa"}},
		{"promote", url.Values{"app": {"checkout"}, "env": {"qa"}, "version": {"1.4.2"}, "reason": {"hotfix"}, "csrf": {csrf}},
			call{Action: "promote", App: "checkout", Env: "qa", Version: "1.4.2", Reason: "hotfix", By: ledger.Actor{Name: "alice", Via: ledger.ViaDashboard}}},
	} {
		n := len(r.actions.Calls())
		code, body := r.post(b, tc.action, r.srv.URL, tc.form)
		calls := r.actions.Calls()
		if code != http.StatusOK || len(calls) != n+1 || fmt.Sprint(calls[n]) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %d %s; calls %+v", tc.action, code, body, calls)
		}
	}
	// A promotion names its version; an unknown action or app is refused.
	if code, _ := r.post(b, "promote", r.srv.URL, url.Values{"app": {"checkout"}, "env": {"qa"}, "csrf": {csrf}}); code != http.StatusBadRequest {
		t.Errorf("promote without a version: %d", code)
	}
	if code, _ := r.post(b, "rollback", r.srv.URL, url.Values{"app": {"cart"}, "env": {"qa"}, "csrf": {csrf}}); code != http.StatusBadRequest {
		t.Errorf("unknown app: %d", code)
	}
	if code, _ := r.post(b, "deploy", r.srv.URL, url.Values{"csrf": {csrf}}); code != http.StatusNotFound {
		t.Errorf("unknown action: %d", code)
	}
}

// TestSignInRefusesBadTokens: an ID token with another nonce, for another
// client, from another issuer or expired signs nobody in; nor does a
// callback whose state is not the browser's.
func TestSignInRefusesBadTokens(t *testing.T) {
	r := newRig(t, "")
	for _, tc := range []struct {
		name   string
		tamper func(map[string]any)
		want   string
	}{
		{"nonce", func(c map[string]any) { c["nonce"] = "replayed" }, "nonce is not this sign-in's"},
		{"audience", func(c map[string]any) { c["aud"] = "another-client" }, "does not verify"},
		{"issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, "does not verify"},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.idp.mu.Lock()
			r.idp.tamper = tc.tamper
			r.idp.mu.Unlock()
			r.idp.signInAs("carol", "shop:product-owners")
			b := r.browser()
			resp, err := b.Get(r.srv.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			u, _ := url.Parse(r.srv.URL)
			for _, c := range b.Jar.Cookies(u) {
				if c.Name == sessionCookie {
					t.Fatal("a session was granted")
				}
			}
		})
	}
	r.idp.tamper = nil
	// A callback the browser did not start (a login CSRF): refused.
	b := r.browser()
	resp, err := b.Get(r.srv.URL + "/callback?code=x&state=y")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no sign-in in progress") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	// A started sign-in answered with another state: refused.
	noFollow := &http.Client{Jar: b.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(r.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = b.Get(r.srv.URL + "/callback?code=x&state=forged")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "state does not match") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if strings.Contains(r.logs.String(), testClientSecret) {
		t.Error("the client secret reached the log")
	}
}

// TestSessionCookie: HttpOnly, SameSite=Lax, 8 hours, not Secure over
// http (Secure with an https redirect URL: TestSecureCookies); a changed
// cookie or one past its 8 hours signs nobody in.
func TestSessionCookie(t *testing.T) {
	r := newRig(t, "")
	r.idp.signInAs("carol", "shop")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	jar, _ := cookiejar.New(nil)
	noFollow.Jar = jar
	resp, err := noFollow.Get(r.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = noFollow.Get(resp.Header.Get("Location")) // the provider
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = noFollow.Get(resp.Header.Get("Location")) // the callback
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sc = c
		}
	}
	if sc == nil {
		t.Fatalf("no session cookie: %v", resp.Header)
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.MaxAge != 8*3600 || sc.Path != "/" {
		t.Errorf("session cookie %+v", sc)
	}
	get := func(value string) int {
		req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/pipeline", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(sc.Value); code != http.StatusOK {
		t.Fatalf("the session does not read: %d", code)
	}
	// carol's groups swapped for product-owners' in the payload: the MAC fails.
	payload, mac, _ := strings.Cut(sc.Value, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	forged := strings.Replace(string(raw), `"groups":["shop"]`, `"groups":["shop","shop:product-owners"]`, 1)
	if forged == string(raw) {
		t.Fatalf("payload %s", raw)
	}
	if code := get(base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + mac); code != http.StatusFound {
		t.Errorf("a forged session reads: %d", code)
	}
	r.now = r.now.Add(8*time.Hour + time.Second)
	if code := get(sc.Value); code != http.StatusFound {
		t.Errorf("a session past 8h reads: %d", code)
	}
}

// TestSecureCookies: with an https redirect URL, cookies are Secure.
func TestSecureCookies(t *testing.T) {
	idp := newFakeIdP(t)
	si, err := NewSignIn(context.Background(), SignInConfig{Issuer: idp.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
		RedirectURL: "https://ferry.example/callback"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	New(chainSource{}, Options{SignIn: si, Actions: &fakeActions{}}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://ferry.example/login", nil))
	resp := w.Result()
	if len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure || !resp.Cookies()[0].HttpOnly {
		t.Fatalf("login cookie %+v", resp.Cookies())
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if q := loc.Query(); q.Get("scope") != "openid profile email groups" || q.Get("code_challenge_method") != "S256" || q.Get("redirect_uri") != "https://ferry.example/callback" {
		t.Errorf("authorization request %s", loc)
	}
	if strings.Contains(loc.String(), testClientSecret) {
		t.Error("the client secret is in the browser's redirect")
	}
}

// TestSignInPages: with sign-in, a visitor without a session is sent to
// /login, the token still reads (a wall screen), a signed-in person
// without any role gets 403, and GETs of the action paths are refused.
func TestSignInPages(t *testing.T) {
	r := newRig(t, "wall-screen-token")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(r.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Errorf("anonymous /: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+"/pipeline", nil)
	req.Header.Set("Authorization", "Bearer wall-screen-token")
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || strings.Contains(body, "<form") ||
		resp.Header.Get("Content-Security-Policy") != CSPSignIn {
		t.Errorf("token read: %d %s", resp.StatusCode, body)
	}
	b := r.browser()
	r.idp.signInAs("mallory", "elsewhere")
	resp, err = b.Get(r.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "no entry of dashboard.roles names you") {
		t.Errorf("no role: %d %s", resp.StatusCode, body)
	}
	resp, err = b.Get(r.srv.URL + "/actions/approve")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET an action: %d", resp.StatusCode)
	}
	// Sign out: the session cookie is gone, and the pages send the
	// browser to sign in again.
	b2, page := r.signIn("carol", "shop")
	b2.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Not from another origin, not without the token: a link cannot sign
	// anyone out.
	for _, form := range []url.Values{{"csrf": {csrfOf(t, page)}}, {}} {
		req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		if len(form) == 0 {
			req.Header.Set("Origin", r.srv.URL)
		}
		resp, err = b2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged sign-out: %d", resp.StatusCode)
		}
	}
	req, _ = http.NewRequest(http.MethodPost, r.srv.URL+"/logout", strings.NewReader(url.Values{"csrf": {csrfOf(t, page)}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.srv.URL)
	resp, err = b2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") {
		t.Errorf("sign-out: %d %s", resp.StatusCode, body)
	}
	resp, err = b2.Get(r.srv.URL + "/pipeline")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Body.Close(); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Errorf("after sign-out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestReadOnlyWithoutSignIn: without dashboard.oidc there is no /login,
// no /callback, actions are refused as before (405, read-only) and the
// pages keep the read-only CSP and referrer policy.
func TestReadOnlyWithoutSignIn(t *testing.T) {
	h := New(chainSource{}, Options{})
	for _, path := range []string{"/login", "/callback", "/logout", "/actions/approve"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, w.Code)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/actions/approve", strings.NewReader("app=checkout")))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST an action: %d", w.Code)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/pipeline", nil))
	body := w.Body.String()
	if w.Code != http.StatusOK || strings.Contains(body, "<form") || w.Header().Get("Content-Security-Policy") != CSP ||
		w.Header().Get("Referrer-Policy") != "no-referrer" || !strings.Contains(body, `content="no-referrer"`) {
		t.Errorf("read-only pipeline: %d %v", w.Code, w.Header())
	}
	if !strings.Contains(body, "approvals 0/1") || !strings.Contains(body, "awaiting approval: 0 of 1") {
		t.Errorf("the read-only pipeline lacks the gate state:\n%s", body)
	}
}

// TestUnreachableIssuer: discovery failing is an error naming the issuer,
// not the secret.
func TestUnreachableIssuer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewSignIn(ctx, SignInConfig{Issuer: srv.URL, ClientID: testClientID, ClientSecret: testClientSecret, RedirectURL: "http://127.0.0.1/callback"})
	if err == nil || !strings.Contains(err.Error(), "OIDC issuer "+srv.URL) || strings.Contains(err.Error(), testClientSecret) {
		t.Fatalf("err = %v", err)
	}
}

// TestRolesIn: every entry naming the user or a group, in the env or in
// all of them.
func TestRolesIn(t *testing.T) {
	si := &SignIn{roles: readmeRoles}
	for _, tc := range []struct {
		user   string
		groups []string
		env    string
		want   string
	}{
		{"carol", []string{"shop", "shop:product-owners"}, "prod", "[approver viewer]"},
		{"carol", []string{"shop", "shop:product-owners"}, "qa", "[viewer]"},
		{"dave", []string{"shop"}, "prod", "[viewer]"},
		{"alice", nil, "dev", "[promoter]"},
		{"alice", nil, "prod", "[]"},
		{"mallory", []string{"shop:product-owners-not"}, "prod", "[]"},
	} {
		if got := fmt.Sprint(si.rolesIn(&session{User: tc.user, Groups: tc.groups}, tc.env)); got != tc.want {
			t.Errorf("%s %v in %s: %s, want %s", tc.user, tc.groups, tc.env, got, tc.want)
		}
	}
}

// FuzzSessionCookie: a cookie value opens only when its payload is the one
// sealed (the MAC covers the payload's text); anything else is refused and
// nothing panics.
func FuzzSessionCookie(f *testing.F) {
	s := sealer{key: []byte("k")}
	want := session{ID: "i", User: "u", Groups: []string{"g"}, Exp: 1}
	v, _ := s.seal(sessionCookie, want)
	payload, _, _ := strings.Cut(v, ".")
	f.Add(v)
	f.Add("e30.")
	f.Add("..")
	f.Add(payload + ".AAAA")
	f.Fuzz(func(t *testing.T, value string) {
		var got session
		if err := s.open(sessionCookie, value, &got); err == nil {
			if p, _, _ := strings.Cut(value, "."); p != payload || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%q opened as %+v", value, got)
			}
		}
		// A login cookie's seal never opens as a session.
		if lv, err := s.seal(loginCookie, pendingLogin{State: value}); err == nil {
			if s.open(sessionCookie, lv, &got) == nil {
				t.Fatal("a login cookie opened as a session")
			}
		}
	})
}

// TestREADMERoles: the roles these tests use are the README's block, and it
// parses and validates as ferry.yaml.
func TestREADMERoles(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(dashboard:\n  oidc:.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("no dashboard: block in the README")
	}
	doc := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\ngit: {url: file:///srv/fleet.git}\n" +
		"apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n" +
		"environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n  - {name: qa, overlay: overlays/qa, from: dev}\n  - {name: prod, overlay: overlays/prod, from: qa}\n" +
		string(m[1])
	p, err := config.Parse("README.md", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(p.Dashboard.Roles) != fmt.Sprint(readmeRoles) {
		t.Errorf("README roles %+v, tests use %+v", p.Dashboard.Roles, readmeRoles)
	}
	if o := p.Dashboard.OIDC; o == nil || o.RedirectURL != "https://ferry.example/callback" || p.Dashboard.SessionKeyFile == "" {
		t.Errorf("README dashboard %+v", p.Dashboard)
	}
}

// TestRandomSessionKey: without sessionKeyFile each process has its own
// key, so a cookie from before a restart signs nobody in.
func TestRandomSessionKey(t *testing.T) {
	idp := newFakeIdP(t)
	mk := func() *SignIn {
		si, err := NewSignIn(context.Background(), SignInConfig{Issuer: idp.srv.URL, ClientID: testClientID, ClientSecret: testClientSecret,
			RedirectURL: "http://127.0.0.1/callback"})
		if err != nil {
			t.Fatal(err)
		}
		return si
	}
	before, after := mk(), mk()
	v, err := before.seal.seal(sessionCookie, session{ID: "i", User: "carol", Exp: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/pipeline", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
	if before.session(req) == nil {
		t.Fatal("the cookie does not open in its own process")
	}
	if after.session(req) != nil {
		t.Fatal("a cookie of another process's key opened")
	}
}

// TestActionWhileStarting: before the agent runs, an action is a 503 with
// Retry-After, not a refusal.
func TestActionWhileStarting(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	r.actions.refuse = ErrStarting
	code, body := r.post(b, "approve", r.srv.URL, approveForm(csrfOf(t, page)))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "ferry is starting") {
		t.Fatalf("%d %s", code, body)
	}
}
