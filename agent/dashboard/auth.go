package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"os"
	"strings"

	"github.com/ferry-dev/ferry/agent/config"
)

// TokenEnv names the environment variable that holds the dashboard token
// when no token file is given.
const TokenEnv = "FERRY_DASHBOARD_TOKEN"

// cookieName holds a keyed hash of the token, never the token itself: a
// leaked cookie does not reveal the token, and a new token voids every cookie.
const cookieName = "ferry_dashboard"

// ReadToken reads the dashboard token from file, else from $FERRY_DASHBOARD_TOKEN;
// "" means the dashboard is open to whoever reaches it.
func ReadToken(file string) (string, error) {
	if file != "" {
		return config.ReadSecret(file)
	}
	// Trimmed: a token pasted into a variable often brings a newline along.
	return strings.TrimSpace(os.Getenv(TokenEnv)), nil
}

// guard lets a request through with the token as a bearer header, with the
// cookie a ?token= visit set, or when no token is configured.
type guard struct {
	token  string
	cookie string // hex HMAC of a fixed label under the token
}

func newGuard(token string) guard {
	if token == "" {
		return guard{}
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("ferry dashboard session"))
	return guard{token: token, cookie: hex.EncodeToString(mac.Sum(nil))}
}

// equal compares in constant time, lengths included (hashes are fixed-size).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

type verdict int

const (
	allowed verdict = iota
	denied
	grantCookie // a valid ?token=: set the cookie and redirect without it
)

func (g guard) check(r *http.Request) verdict {
	if g.token == "" {
		return allowed
	}
	// An Authorization header is judged alone: a wrong one is not rescued
	// by a cookie.
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") && equal(strings.TrimSpace(tok), g.token) {
			return allowed
		}
		return denied
	}
	if q := r.URL.Query(); q.Has("token") {
		if equal(q.Get("token"), g.token) {
			return grantCookie
		}
		return denied
	}
	if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, g.cookie) {
		return allowed
	}
	return denied
}

// grant sets the session cookie and sends the browser to the same URL
// without the token, so it stays out of history and Referer headers.
func (g guard) grant(w http.ResponseWriter, r *http.Request) {
	// Secure only over TLS: on plain HTTP (loopback) a Secure cookie would
	// never come back. SameSite=Strict: no other site's link can use it.
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: g.cookie, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	u := *r.URL
	q := u.Query()
	q.Del("token")
	u.RawQuery = q.Encode()
	u.Scheme, u.Host, u.User = "", "", nil
	target := u.RequestURI()
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		target = "/" // never a redirect to another host
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
