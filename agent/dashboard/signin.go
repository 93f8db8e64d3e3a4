package dashboard

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ferry-dev/ferry/agent/config"
)

// SignInConfig is what NewSignIn needs: dashboard.oidc with the secrets
// already read, and dashboard.roles.
type SignInConfig struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	// SessionKey signs session cookies; nil: a random key (sessions end
	// when the process does).
	SessionKey []byte
	Roles      []config.DashboardRole
	// HTTPClient reaches the provider; nil: http.DefaultClient.
	HTTPClient *http.Client
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// SignIn signs people in with OpenID Connect (authorization code with
// PKCE, state and nonce) and keeps them signed in with a signed cookie.
type SignIn struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	issuer   string
	seal     sealer
	roles    []config.DashboardRole
	origin   string // scheme://host of the redirect URL: the dashboard's own origin
	secure   bool
	client   *http.Client
	now      func() time.Time
	revoked  *revocations // sessions signed out in this process
}

// NewSignIn discovers the issuer (bounded by ctx) and returns the sign-in.
// The error names the issuer, never the client secret.
func NewSignIn(ctx context.Context, c SignInConfig) (*SignIn, error) {
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	u, err := url.Parse(c.RedirectURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("dashboard.oidc.redirectURL %q is not a URL", c.RedirectURL)
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.HTTPClient), c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC issuer %s: discovery: %w", c.Issuer, err)
	}
	key := c.SessionKey
	if len(key) == 0 {
		key = randomKey(32)
	}
	si := &SignIn{
		oauth: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, RedirectURL: c.RedirectURL,
			Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email", "groups"}},
		// Issuer, audience (the client ID), expiry and signature; the nonce
		// is checked in callback.
		verifier: p.Verifier(&oidc.Config{ClientID: c.ClientID, Now: c.Now}),
		issuer:   c.Issuer,
		seal:     sealer{key: key},
		roles:    c.Roles,
		origin:   u.Scheme + "://" + u.Host,
		secure:   u.Scheme == "https",
		client:   c.HTTPClient,
		now:      c.Now,
		revoked:  newRevocations(maxRevoked),
	}
	return si, nil
}

// login starts a sign-in: a fresh state, nonce and PKCE verifier in a
// short-lived signed cookie, and the browser sent to the provider.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	si := h.opt.SignIn
	pl := pendingLogin{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Exp: si.now().Add(loginTTL).Unix()}
	v, err := si.seal.seal(loginCookie, pl)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "could not start the sign-in")
		return
	}
	si.setCookie(w, loginCookie, v, loginTTL)
	http.Redirect(w, r, si.oauth.AuthCodeURL(pl.State, oidc.Nonce(pl.Nonce), oauth2.S256ChallengeOption(pl.Verifier)), http.StatusFound)
}

// claims are the ID token's claims the dashboard uses.
type claims struct {
	Nonce             string   `json:"nonce"`
	Subject           string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	Groups            []string `json:"groups"`
	AuthorizedParty   string   `json:"azp"`
}

// callback finishes a sign-in: the state must match the login cookie's,
// the code is exchanged with the PKCE verifier, and the ID token must be
// the issuer's, for this client, unexpired and carrying the nonce.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	si := h.opt.SignIn
	name, groups, err := h.finishLogin(r)
	si.clearCookie(w, loginCookie)
	if err != nil {
		h.opt.Log.Warn("dashboard sign-in refused", "err", err)
		h.fail(w, http.StatusForbidden, "Sign-in failed: "+err.Error()+" Start again at /login.")
		return
	}
	s := session{ID: randomString(), User: name, Groups: groups, Exp: si.now().Add(SessionTTL).Unix()}
	v, err := si.seal.seal(sessionCookie, s)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "could not keep the sign-in")
		return
	}
	si.setCookie(w, sessionCookie, v, SessionTTL)
	h.opt.Log.Info("dashboard sign-in", "user", name, "groups", groups)
	http.Redirect(w, r, "/pipeline", http.StatusSeeOther)
}

func (h *Handler) finishLogin(r *http.Request) (string, []string, error) {
	si := h.opt.SignIn
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return "", nil, fmt.Errorf("the provider answered %q.", truncate(e+" "+q.Get("error_description"), 200))
	}
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return "", nil, errors.New("no sign-in in progress in this browser (or it took longer than 10 minutes).")
	}
	var pl pendingLogin
	if err := si.seal.open(loginCookie, c.Value, &pl); err != nil || si.now().Unix() >= pl.Exp {
		return "", nil, errors.New("the sign-in in progress is not valid any more.")
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(pl.State)) != 1 {
		return "", nil, errors.New("the state does not match the sign-in this browser started.")
	}
	ctx := oidc.ClientContext(r.Context(), si.client)
	tok, err := si.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pl.Verifier))
	if err != nil {
		return "", nil, fmt.Errorf("the code exchange with %s failed: %s.", si.issuer, redactExchange(err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return "", nil, fmt.Errorf("%s sent no ID token (is the openid scope allowed?).", si.issuer)
	}
	idt, err := si.verifier.Verify(ctx, raw)
	if err != nil {
		return "", nil, fmt.Errorf("the ID token does not verify: %v.", err)
	}
	var cl claims
	if err := idt.Claims(&cl); err != nil {
		return "", nil, fmt.Errorf("the ID token's claims: %v.", err)
	}
	// OIDC Core 3.1.3.7: a token for several audiences must name this
	// client as the party it was issued to (go-oidc checks only that the
	// client is among the audiences).
	if len(idt.Audience) > 1 && cl.AuthorizedParty != si.oauth.ClientID {
		return "", nil, fmt.Errorf("the ID token is for %d audiences and its azp is %q, not this client (%s).",
			len(idt.Audience), truncate(cl.AuthorizedParty, 100), si.oauth.ClientID)
	}
	if subtle.ConstantTimeCompare([]byte(cl.Nonce), []byte(pl.Nonce)) != 1 {
		return "", nil, errors.New("the ID token's nonce is not this sign-in's.")
	}
	name := cl.PreferredUsername
	if name == "" {
		name = cl.Email
	}
	if name == "" {
		name = cl.Subject
	}
	if name == "" {
		return "", nil, errors.New("the ID token names nobody (no preferred_username, email or sub).")
	}
	return name, cl.Groups, nil
}

// redactExchange keeps the provider's error code, not the request (whose
// form carried the client secret in some flows).
func redactExchange(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return truncate(re.ErrorCode+" "+re.ErrorDescription, 200)
		}
		return "status " + re.Response.Status
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// logout ends the session: a form posted with the session's CSRF token
// from the dashboard's origin, so no other site can sign a person out. The
// session's ID is revoked in this process, so a copy of the cookie stops
// working too, and the answer is a page, not a redirect: a redirect to a
// page would send the browser to /login, which the provider may answer by
// signing the person in again at once.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	si := h.opt.SignIn
	s := si.session(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if s == nil || !si.sameOrigin(r) || r.ParseForm() != nil || !si.seal.checkCSRF(s.ID, r.PostForm.Get("csrf")) {
		h.fail(w, http.StatusForbidden, "Sign out from the dashboard's own page.")
		return
	}
	si.revoked.add(s.ID, s.Exp, si.now().Unix())
	si.clearCookie(w, sessionCookie)
	h.opt.Log.Info("dashboard sign-out", "user", s.User)
	h.render(w, http.StatusOK, "signedout", signedOutView{Title: "signed out · ferry", Now: h.opt.Now().UTC(), User: s.User})
}

type signedOutView struct {
	Title string
	Now   time.Time
	User  string
}

// rolesIn are the roles s holds in env: every dashboard.roles entry that
// names the user or one of their groups and holds in env.
func (si *SignIn) rolesIn(s *session, env string) []string {
	var out []string
	for _, r := range si.roles {
		if !(r.User != "" && r.User == s.User || r.Group != "" && slices.Contains(s.Groups, r.Group)) {
			continue
		}
		if len(r.Envs) > 0 && env != "" && !slices.Contains(r.Envs, env) {
			continue
		}
		if !slices.Contains(out, r.Role) {
			out = append(out, r.Role)
		}
	}
	return out
}

// mayView: any role, in any environment, lets a person see the dashboard.
func (si *SignIn) mayView(s *session) bool {
	return len(si.rolesIn(s, "")) > 0
}

// may says whether s holds role in env.
func (si *SignIn) may(s *session, role, env string) bool {
	return slices.Contains(si.rolesIn(s, env), role)
}

// sameOrigin: the POST came from a page of this dashboard. Origin is
// checked when the browser sends it, else the Referer; neither is a refusal.
func (si *SignIn) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == si.origin
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return ref == si.origin || strings.HasPrefix(ref, si.origin+"/")
	}
	return false
}
