package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/ledger"
)

// cookieOf is b's session cookie value.
func cookieOf(t *testing.T, r *rig, b *http.Client) string {
	t.Helper()
	u, _ := url.Parse(r.srv.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// withCookie is a request carrying value as the session cookie.
func (r *rig) withCookie(method, path, value string, form url.Values) (int, string, http.Header) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", r.srv.URL)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.StatusCode, readBody(r.t, resp), resp.Header
}

// TestSignOutEndsTheSession: after sign-out a copy of the cookie (taken
// before, as a thief would) no longer reads a page nor acts; the answer is
// a page with a link to sign in again, not a redirect into a new sign-in.
// Another session of the same person is untouched.
func TestSignOutEndsTheSession(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	stolen := cookieOf(t, r, b)
	csrf := csrfOf(t, page)
	other, otherPage := r.signIn("carol", "shop", "shop:product-owners")

	code, body, hd := r.withCookie(http.MethodPost, "/logout", stolen, url.Values{"csrf": {csrf}})
	if code != http.StatusOK || hd.Get("Location") != "" {
		t.Fatalf("sign-out: %d, Location %q", code, hd.Get("Location"))
	}
	for _, want := range []string{"Signed out", `<a href="/login">Sign in again</a>`, "may still have you signed in"} {
		if !strings.Contains(body, want) {
			t.Errorf("the signed-out page lacks %q:\n%s", want, body)
		}
	}
	if code, _, hd := r.withCookie(http.MethodGet, "/pipeline", stolen, nil); code != http.StatusFound || hd.Get("Location") != "/login" {
		t.Errorf("the signed-out cookie reads /pipeline: %d %s", code, hd.Get("Location"))
	}
	if code, body, _ := r.withCookie(http.MethodPost, "/actions/approve", stolen, approveForm(csrf)); code != http.StatusForbidden || !strings.Contains(body, "Sign in first") {
		t.Errorf("the signed-out cookie acts: %d %s", code, body)
	}
	if code, _, _ := r.withCookie(http.MethodPost, "/logout", stolen, url.Values{"csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("signing out twice: %d", code)
	}
	if calls := r.actions.Calls(); len(calls) != 0 {
		t.Fatalf("the agent was called: %+v", calls)
	}
	if code, _ := r.post(other, "approve", r.srv.URL, approveForm(csrfOf(t, otherPage))); code != http.StatusOK {
		t.Errorf("carol's other session: %d", code)
	}
	if !strings.Contains(r.logs.String(), `msg="dashboard sign-out" user=carol`) {
		t.Errorf("the sign-out is not logged:\n%s", r.logs.String())
	}
	// The revocation lasts as long as the session would have: past its
	// 8 hours the entry goes, and the cookie is refused by its exp.
	r.now = r.now.Add(SessionTTL)
	if code, _, _ := r.withCookie(http.MethodGet, "/pipeline", stolen, nil); code != http.StatusFound {
		t.Errorf("an expired session reads: %d", code)
	}
}

// TestRevocationsBounded: entries expire with their session, and at the
// cap the one that expires soonest goes so that a new sign-out is kept.
func TestRevocationsBounded(t *testing.T) {
	rv := newRevocations(3)
	now := int64(1000)
	rv.add("a", now+10, now)
	rv.add("b", now+30, now)
	rv.add("c", now+20, now)
	rv.add("d", now+40, now) // at the cap: a, the soonest to expire, goes
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true, "never": false} {
		if got := rv.has(id, now); got != want {
			t.Errorf("has(%s) = %v, want %v", id, got, want)
		}
	}
	if rv.len() != 3 {
		t.Errorf("%d entries, cap 3", rv.len())
	}
	// c has expired: it goes at the next look-up, and at the next add at
	// the cap before anything still valid.
	if rv.has("c", now+20) {
		t.Error("c outlived its session")
	}
	rv.add("e", now+50, now+25)
	rv.add("f", now+60, now+31) // b expired at now+30: it goes, not d or e
	for id, want := range map[string]bool{"b": false, "d": true, "e": true, "f": true} {
		if got := rv.has(id, now+31); got != want {
			t.Errorf("after expiry, has(%s) = %v, want %v", id, got, want)
		}
	}
	if maxRevoked != 100_000 {
		t.Errorf("maxRevoked = %d", maxRevoked)
	}
}

// TestActionsNeedAReason: reject, promote, rollback and abort without a
// reason are a 400 naming the field, the agent is not called, and the
// pipeline's forms for them mark the field required; approve and
// retry-analysis take none. A reason with a control character is refused
// for every action.
func TestActionsNeedAReason(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	if !strings.Contains(page, `placeholder="reason (required)" aria-label="reason (required)" required>
<button type="submit" name="do" value="reject"`) {
		t.Errorf("the reject form's reason is not required:\n%s", page)
	}
	if !strings.Contains(page, `placeholder="reason" aria-label="reason">
<button type="submit" name="do" value="approve"`) {
		t.Errorf("the approve form's reason is required:\n%s", page)
	}
	csrf := csrfOf(t, page)
	form := approveForm(csrf)
	form.Set("reason", "  ")
	code, body := r.post(b, "reject", r.srv.URL, form)
	if code != http.StatusBadRequest || !strings.Contains(body, "reject needs a reason (the form's reason field)") {
		t.Errorf("reject without a reason: %d %s", code, body)
	}
	a, _ := r.signIn("alice")
	acsrf := sessionCSRF(t, r, a)
	for _, name := range []string{"promote", "rollback", "abort"} {
		code, body := r.post(a, name, r.srv.URL, url.Values{"app": {"checkout"}, "env": {"qa"}, "version": {"1.4.2"}, "csrf": {acsrf}})
		if code != http.StatusBadRequest || !strings.Contains(body, name+" needs a reason") {
			t.Errorf("%s without a reason: %d %s", name, code, body)
		}
	}
	for _, name := range []string{"approve", "reject", "promote", "rollback", "abort", "retry-analysis"} {
		who, tok, env := a, acsrf, "qa"
		if name == "approve" || name == "reject" {
			who, tok, env = b, csrf, "prod"
		}
		code, body := r.post(who, name, r.srv.URL, url.Values{"app": {"checkout"}, "env": {env}, "version": {"1.4.2"}, "csrf": {tok},
			"reason": {"hotfix\nFerry-Requested-By: mallory (cli)"}})
		if code != http.StatusBadRequest || !strings.Contains(body, "reason: the reason has a control character (U+000A") {
			t.Errorf("%s with a newline in the reason: %d %s", name, code, body)
		}
	}
	if calls := r.actions.Calls(); len(calls) != 0 {
		t.Fatalf("the agent was called: %+v", calls)
	}
	if !strings.Contains(r.logs.String(), `user=alice groups=[] action=rollback app=checkout env=qa version=1.4.2 to="" result="refused: no reason"`) {
		t.Errorf("the refusal is not audited:\n%s", r.logs.String())
	}
	// retry-analysis takes none.
	if code, body := r.post(a, "retry-analysis", r.srv.URL, url.Values{"app": {"checkout"}, "env": {"qa"}, "csrf": {acsrf}}); code != http.StatusOK {
		t.Errorf("retry-analysis without a reason: %d %s", code, body)
	}
}

// TestRetryWithNothingToRemove: a retry-analysis that changes nothing is a
// refusal (the agent's message when it says why), never "had already".
func TestRetryWithNothingToRemove(t *testing.T) {
	r := newRig(t, "")
	b, _ := r.signIn("alice")
	form := url.Values{"app": {"checkout"}, "env": {"qa"}, "csrf": {sessionCSRF(t, r, b)}}
	r.actions.unchanged = true
	code, body := r.post(b, "retry-analysis", r.srv.URL, form)
	if code != http.StatusConflict || strings.Contains(body, "had already") || !strings.Contains(body, "ferry refused: retry-analysis changed nothing for checkout in qa") {
		t.Errorf("retry-analysis with nothing removed: %d %s", code, body)
	}
	r.actions.unchanged = false
	r.actions.refuse = errors.New("qa has no verdict on what it runs of checkout now; nothing to analyse again")
	code, body = r.post(b, "retry-analysis", r.srv.URL, form)
	if code != http.StatusConflict || !strings.Contains(body, "ferry refused: qa has no verdict on what it runs of checkout now; nothing to analyse again") {
		t.Errorf("retry-analysis refused: %d %s", code, body)
	}
	// A vote already recorded is no refusal.
	r.actions.refuse, r.actions.unchanged = nil, true
	c, page := r.signIn("carol", "shop", "shop:product-owners")
	if code, body := r.post(c, "approve", r.srv.URL, approveForm(csrfOf(t, page))); code != http.StatusOK || !strings.Contains(body, "carol had already approved checkout 1.4.2 in prod.") {
		t.Errorf("a repeated vote: %d %s", code, body)
	}
}

// TestActionAudit: every attempt is one audit line at Info, naming the
// person whenever a valid session cookie came with it: a post from another
// origin, an oversized or unreadable form, an unknown action; an anonymous
// attempt names nobody; a rollback's line says where to.
func TestActionAudit(t *testing.T) {
	r := newRig(t, "")
	b, page := r.signIn("carol", "shop", "shop:product-owners")
	csrf := csrfOf(t, page)
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(l, `msg="dashboard action"`) {
				out = append(out, l)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		do     func() int
		status int
		want   string
	}{
		{"another origin", func() int { c, _ := r.post(b, "approve", "https://evil.example", approveForm(csrf)); return c }, http.StatusForbidden,
			`level=INFO msg="dashboard action" user=carol groups="[shop shop:product-owners]" action=approve app="" env="" version="" result="forbidden: not from the dashboard's origin (Origin \"https://evil.example\"`},
		{"oversized form", func() int {
			f := approveForm(csrf)
			f.Set("reason", strings.Repeat("x", maxForm))
			c, _ := r.post(b, "approve", r.srv.URL, f)
			return c
		}, http.StatusRequestEntityTooLarge, `user=carol groups="[shop shop:product-owners]" action=approve app="" env="" version="" result="refused: the form is over 16384 bytes"`},
		{"unreadable form", func() int {
			req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/actions/approve", strings.NewReader("app=%zz"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", r.srv.URL)
			resp, err := b.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusBadRequest, `user=carol groups="[shop shop:product-owners]" action=approve app="" env="" version="" result="refused: unreadable form"`},
		{"unknown action", func() int { c, _ := r.post(b, "deploy", r.srv.URL, approveForm(csrf)); return c }, http.StatusNotFound,
			`user=carol groups="[shop shop:product-owners]" action=deploy app="" env="" version="" result="refused: no such action"`},
		{"a path of several segments", func() int { c, _ := r.post(b, "approve/x", r.srv.URL, approveForm(csrf)); return c }, http.StatusNotFound,
			`user=carol groups="[shop shop:product-owners]" action=approve/x app="" env="" version="" result="refused: no such action"`},
		{"anonymous", func() int { c, _ := r.post(r.browser(), "approve", r.srv.URL, approveForm(csrf)); return c }, http.StatusForbidden,
			`level=INFO msg="dashboard action" user="" groups=[] action=approve app="" env="" version="" result="forbidden: not signed in"`},
		{"anonymous from another origin", func() int { c, _ := r.post(r.browser(), "abort", "https://evil.example", url.Values{}); return c }, http.StatusForbidden,
			`level=INFO msg="dashboard action" user="" groups=[] action=abort app="" env="" version="" result="forbidden: not from the dashboard's origin`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(lines())
			if code := tc.do(); code != tc.status {
				t.Errorf("status %d, want %d", code, tc.status)
			}
			got := lines()
			if len(got) != before+1 || !strings.Contains(got[len(got)-1], tc.want) {
				t.Errorf("audit lines %d -> %d; want one containing %s; last:\n%s", before, len(got), tc.want, strings.Join(got[before:], "\n"))
			}
		})
	}
	if strings.Contains(r.logs.String(), "level=WARN") {
		t.Errorf("an attempt logged at Warn:\n%s", r.logs.String())
	}
	a, _ := r.signIn("alice")
	form := url.Values{"app": {"checkout"}, "env": {"dev"}, "to": {"1.4.0"}, "reason": {"bad build"}, "csrf": {sessionCSRF(t, r, a)}}
	if code, body := r.post(a, "rollback", r.srv.URL, form); code != http.StatusOK {
		t.Fatalf("rollback: %d %s", code, body)
	}
	if got := lines(); !strings.Contains(got[len(got)-1], `user=alice groups=[] action=rollback app=checkout env=dev version="" to=1.4.0 result="commit c0ffee`) ||
		!strings.Contains(got[len(got)-1], `reason="bad build"`) {
		t.Errorf("rollback audit: %s", got[len(got)-1])
	}
	if calls := r.actions.Calls(); len(calls) != 1 {
		t.Errorf("calls %+v", calls)
	}
}

// deliverySource is chainSource with a candidate waiting in qa, where a
// canary is in progress.
type deliverySource struct{ chainSource }

func (deliverySource) LastPass() *Pass {
	p := chainSource{}.LastPass()
	p.Pending = append(p.Pending, Pending{App: "checkout", Env: "qa", From: "dev", Mode: "auto",
		Current: ledger.Version{Tag: "1.4.1"}, Candidate: ledger.Version{Tag: "1.4.3"}, Action: "wait", Reason: "a delivery is in progress"})
	return p
}

// TestNoPromoteDuringDelivery: no Promote button where a delivery is in
// progress (the agent would refuse it: abort first); Abort is there.
func TestNoPromoteDuringDelivery(t *testing.T) {
	r := newRigOver(t, "", deliverySource{})
	_, page := r.signIn("alice")
	qa := page[strings.Index(page, `data-env="qa"`):strings.Index(page, `data-env="prod"`)]
	if strings.Contains(qa, `data-action="promote"`) {
		t.Errorf("qa offers Promote during its delivery:\n%s", qa)
	}
	if !strings.Contains(qa, `data-action="abort"`) || !strings.Contains(qa, "1.4.3") {
		t.Errorf("qa lacks Abort or its candidate:\n%s", qa)
	}
	// dev, with no delivery, would offer it for a candidate: the rule is
	// the delivery, not the role.
	s := &session{User: "alice"}
	h := New(deliverySource{}, Options{SignIn: &SignIn{roles: readmeRoles}, Actions: r.actions})
	if bs := h.buttons(s, stage{Env: "dev", Pending: &Pending{Candidate: ledger.Version{Tag: "1.4.3"}}}); fmt.Sprint(bs) == "[]" || bs[0].Action != "promote" || !bs[0].NeedReason {
		t.Errorf("dev buttons %+v", bs)
	}
}

// TestSignInAzp: an ID token for several audiences signs in only when its
// azp is this client (OIDC Core 3.1.3.7); one audience needs no azp.
func TestSignInAzp(t *testing.T) {
	r := newRig(t, "")
	for _, tc := range []struct {
		name   string
		tamper func(map[string]any)
		ok     bool
	}{
		{"several audiences, no azp", func(c map[string]any) { c["aud"] = []string{testClientID, "another-client"} }, false},
		{"several audiences, another azp", func(c map[string]any) {
			c["aud"], c["azp"] = []string{testClientID, "another-client"}, "another-client"
		}, false},
		{"several audiences, this client's azp", func(c map[string]any) {
			c["aud"], c["azp"] = []string{"another-client", testClientID}, testClientID
		}, true},
		{"one audience, no azp", func(c map[string]any) { c["aud"] = []string{testClientID} }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.idp.mu.Lock()
			r.idp.tamper = tc.tamper
			r.idp.mu.Unlock()
			r.idp.signInAs("carol", "shop")
			resp, err := r.browser().Get(r.srv.URL + "/login")
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if tc.ok && (resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/pipeline") {
				t.Fatalf("refused: %d %s", resp.StatusCode, body)
			}
			if !tc.ok && (resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "is for 2 audiences and its azp is") ||
				!strings.Contains(body, "not this client ("+testClientID+")")) {
				t.Fatalf("signed in: %d %s", resp.StatusCode, body)
			}
		})
	}
}
