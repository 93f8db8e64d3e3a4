// Package webhook serves ferry's authenticated webhook endpoints (docs/design.md
// "Webhooks") and parses the payloads registries and forges send to them.
package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/hmacsig"
)

// Signature headers: "sha256=<hex HMAC-SHA256>" of the body, or of
// "<timestamp>.<body>" when TimestampHeader (unix seconds) is sent; see
// internal/hmacsig. GitHubSignatureHeader is the only one GitHub can send.
const (
	SignatureHeader       = hmacsig.SignatureHeader
	GitHubSignatureHeader = hmacsig.GitHubHeader
	TimestampHeader       = hmacsig.TimestampHeader
)

// Reasons Verify refuses a call. None of them ever holds the secret.
var (
	ErrNoSecret           = errors.New("no webhook secret configured: every call is refused")
	ErrMissingCredentials = errors.New("missing credentials: send Authorization: Bearer <secret>, or " + SignatureHeader + " (or " + GitHubSignatureHeader + "): sha256=<hex hmac>")
	ErrBadToken           = errors.New("bad bearer token")
	ErrBadSignature       = hmacsig.ErrBadSignature
	// ErrStale: the signed timestamp is more than 5 minutes off (401).
	ErrStale = hmacsig.ErrStale
	// ErrReplay: this timestamped signature was already accepted (409).
	ErrReplay = hmacsig.ErrReplay
)

// Verifier checks that a webhook call knows the shared secret.
type Verifier struct {
	secret  []byte
	digest  [sha256.Size]byte // of the secret, for a length-blind bearer compare
	replays hmacsig.ReplayGuard
	now     func() time.Time
}

// NewVerifier returns a Verifier for secret; an empty secret refuses every
// call (fail closed) rather than accepting unauthenticated ones.
func NewVerifier(secret string) *Verifier {
	return &Verifier{secret: []byte(secret), digest: sha256.Sum256([]byte(secret)), now: time.Now}
}

// Verify accepts the call when either credential is present and right:
// Authorization: Bearer <secret>, or a signature header over the body (and
// the timestamp, when sent). Comparisons take constant time.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	bearer, err := v.CheckHeaders(r)
	if err != nil || bearer {
		return err
	}
	return v.VerifyBody(r, body)
}

// CheckHeaders authenticates what it can before the body is read: true
// when the bearer token is right; false with no error when only a
// signature over the body can tell (read it, size-limited, then call
// VerifyBody); an error when the call cannot be authenticated at all.
func (v *Verifier) CheckHeaders(r *http.Request) (bearer bool, err error) {
	if v == nil || len(v.secret) == 0 {
		return false, ErrNoSecret
	}
	auth, sig := r.Header.Get("Authorization"), signature(r)
	if auth == "" && sig == "" {
		return false, ErrMissingCredentials
	}
	if auth != "" {
		if err = v.bearer(auth); err == nil {
			return true, nil
		}
	}
	if sig != "" {
		return false, nil // a proxy may add its own Authorization; a right signature still wins
	}
	return false, err
}

// VerifyBody checks the call's signature over body: ErrBadSignature,
// ErrStale or ErrReplay when it does not hold.
func (v *Verifier) VerifyBody(r *http.Request, body []byte) error {
	if v == nil || len(v.secret) == 0 {
		return ErrNoSecret
	}
	now := v.now()
	s, err := hmacsig.Verify(v.secret, body, signature(r), r.Header.Get(TimestampHeader), now)
	if err != nil {
		return err
	}
	return v.replays.Check(s, now)
}

// signature is the call's signature header: ferry's own, or GitHub's.
func signature(r *http.Request) string {
	if s := r.Header.Get(SignatureHeader); s != "" {
		return s
	}
	return r.Header.Get(GitHubSignatureHeader)
}

func (v *Verifier) bearer(header string) error {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errors.Join(ErrBadToken, errors.New("Authorization is not a Bearer token"))
	}
	// Hashing first keeps the compare blind to the secret's length.
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], v.digest[:]) != 1 {
		return ErrBadToken
	}
	return nil
}
