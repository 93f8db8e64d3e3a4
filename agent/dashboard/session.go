package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Cookie names of sign-in. The session cookie carries who signed in and
// their groups, signed with the session key; the login cookie carries the
// state, nonce and PKCE verifier of one sign-in for ten minutes.
const (
	sessionCookie = "ferry_session"
	loginCookie   = "ferry_login"
	// SessionTTL is how long a sign-in lasts.
	SessionTTL = 8 * time.Hour
	loginTTL   = 10 * time.Minute
)

// session is a signed-in person. ID keys the CSRF token, so a token from one
// session is worthless in another.
type session struct {
	ID     string   `json:"id"`
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	Exp    int64    `json:"exp"`
}

// pendingLogin is one sign-in between /login and /callback.
type pendingLogin struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Exp      int64  `json:"exp"`
}

// sealer signs and checks cookie values: base64url(JSON) "." base64url(HMAC).
// The values are not secret (a user's own name and groups) but must not be
// forged; the label keeps a login cookie from passing as a session.
type sealer struct{ key []byte }

func (s sealer) mac(label, payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(label + "\x00" + payload))
	return m.Sum(nil)
}

func (s sealer) seal(label string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(label, p)), nil
}

var errBadCookie = errors.New("the cookie is not ferry's or has been changed")

// open checks the signature before decoding anything.
func (s sealer) open(label, value string, v any) error {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return errBadCookie
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(label, p)) {
		return errBadCookie
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return errBadCookie
	}
	return json.Unmarshal(b, v)
}

// csrf is the session's CSRF token: an HMAC of its ID, so the server keeps
// no table and a token never outlives its session.
func (s sealer) csrf(sessionID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", sessionID))
}

// checkCSRF compares in constant time.
func (s sealer) checkCSRF(sessionID, token string) bool {
	want := s.csrf(sessionID)
	return token != "" && subtle.ConstantTimeCompare([]byte(want), []byte(token)) == 1
}

func randomString() string {
	return base64.RawURLEncoding.EncodeToString(randomKey(24))
}

// randomKey panics when the system has no randomness: nothing safe can
// be done without it.
func randomKey(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("dashboard: no randomness: " + err.Error())
	}
	return b
}

func (si *SignIn) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: si.secure, MaxAge: int(ttl.Seconds())})
}

func (si *SignIn) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: si.secure, MaxAge: -1})
}

// session is the request's signed-in person, or nil.
func (si *SignIn) session(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	var s session
	if si.seal.open(sessionCookie, c.Value, &s) != nil || s.ID == "" || s.User == "" {
		return nil
	}
	if si.now().Unix() >= s.Exp || si.revoked.has(s.ID, si.now().Unix()) {
		return nil
	}
	return &s
}

// maxRevoked bounds the signed-out sessions remembered: each entry is
// kept only until its session would have expired anyway (8 hours).
const maxRevoked = 100_000

// revocations are the session IDs signed out in this process, each until
// its session's exp: a copy of the cookie stops working at sign-out. They
// live in memory: a restart forgets them (with sessionKeyFile the cookie
// would open again, until its exp).
type revocations struct {
	mu  sync.Mutex
	ids map[string]int64 // session ID -> its exp, Unix seconds
	max int
}

func newRevocations(max int) *revocations {
	return &revocations{ids: map[string]int64{}, max: max}
}

// add remembers id until exp. At the cap, expired entries go first, then
// the one that expires soonest: a sign-out is never refused, nor is any
// other session.
func (rv *revocations) add(id string, exp, now int64) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if len(rv.ids) >= rv.max {
		for k, e := range rv.ids {
			if e <= now {
				delete(rv.ids, k)
			}
		}
	}
	for len(rv.ids) >= rv.max {
		first, firstExp := "", int64(0)
		for k, e := range rv.ids {
			if first == "" || e < firstExp {
				first, firstExp = k, e
			}
		}
		delete(rv.ids, first)
	}
	rv.ids[id] = exp
}

// has says whether id was signed out and its session has not expired.
func (rv *revocations) has(id string, now int64) bool {
	if rv == nil {
		return false // a SignIn not made by NewSignIn (tests): nothing revoked
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	exp, ok := rv.ids[id]
	if ok && exp <= now {
		delete(rv.ids, id) // expired: the session's exp refuses it now
		return false
	}
	return ok
}

func (rv *revocations) len() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.ids)
}
