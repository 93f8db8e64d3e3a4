// Package webhook serves ferry's authenticated webhook endpoints (docs/design.md
// "Webhooks") and parses the payloads registries and forges send to them.
package webhook

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
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

// Vendors' credential headers, each checked against the one webhook secret
// as the vendor documents it (see signatureSchemes and tokenHeaders).
const (
	// HubSignatureHeader is Bitbucket's (Cloud and Data Center): sha256=<hex>.
	// GitHub sends it too, with sha1=, beside X-Hub-Signature-256.
	HubSignatureHeader = "X-Hub-Signature"
	// GiteaSignatureHeader holds the bare hex HMAC-SHA256 of the body.
	GiteaSignatureHeader = "X-Gitea-Signature"
	// NexusSignatureHeader holds the bare hex HMAC-SHA1 of the body (Nexus
	// Repository's "Secret Key").
	NexusSignatureHeader = "X-Nexus-Webhook-Signature"
	// GitLabTokenHeader holds the webhook's "Secret token" verbatim.
	GitLabTokenHeader = "X-Gitlab-Token"
	// JFrogAuthHeader holds the webhook's secret verbatim, or with "Use
	// secret for payload signing" the hex HMAC-SHA256 of the body.
	JFrogAuthHeader = "X-JFrog-Event-Auth"
)

// Reasons Verify refuses a call. None of them ever holds the secret.
var (
	ErrNoSecret           = errors.New("no webhook secret configured: every call is refused")
	ErrMissingCredentials = errors.New("missing credentials: send Authorization: Bearer <secret>, or " + SignatureHeader + " (or " + GitHubSignatureHeader + "): sha256=<hex hmac>, or a vendor's own (" +
		strings.Join([]string{HubSignatureHeader, GiteaSignatureHeader, NexusSignatureHeader, GitLabTokenHeader, JFrogAuthHeader}, ", ") + "), or use the secret path")
	ErrBadToken     = errors.New("bad token")
	ErrBadSignature = hmacsig.ErrBadSignature
	// ErrStale: the signed timestamp is more than 5 minutes off (401).
	ErrStale = hmacsig.ErrStale
	// ErrReplay: this timestamped signature was already accepted (409).
	ErrReplay = hmacsig.ErrReplay
)

// Verifier checks that a webhook call knows the shared secret. The secret
// is fixed (NewVerifier) or follows a file (NewFileVerifier); either way
// each call is checked against one snapshot of it.
type Verifier struct {
	state   atomic.Pointer[secretState]
	file    atomic.Pointer[secretFile] // nil: the secret is fixed
	replays hmacsig.ReplayGuard
	now     func() time.Time
	log     *slog.Logger // for a token file followed later; nil logs nothing
}

// secretState is one secret and what is derived from it; an empty secret
// refuses every call.
type secretState struct {
	secret []byte
	digest [sha256.Size]byte // of the secret, for a length-blind token compare
	path   string            // the secret path segment, see PathToken
}

func newSecretState(secret string) *secretState {
	st := &secretState{secret: []byte(secret), digest: sha256.Sum256([]byte(secret))}
	if secret != "" {
		st.path = PathToken(secret)
	}
	return st
}

// NewVerifier returns a Verifier for secret, fixed for its life; an empty
// secret refuses every call (fail closed) rather than accepting
// unauthenticated ones.
func NewVerifier(secret string) *Verifier {
	v := &Verifier{now: time.Now}
	v.state.Store(newSecretState(CleanSecret(secret)))
	return v
}

// PathTokenPrefix is hashed before the secret to make the secret path.
const PathTokenPrefix = "ferry-webhook-path:"

// PathToken is the secret path segment for senders that sign nothing
// (Docker Hub, Quay): /hooks/registry/<PathToken(secret)>, the hex SHA-256
// of PathTokenPrefix followed by the secret (as Flux's Receivers hash the
// token into /hook/<sha256>). Whoever knows the URL can call it.
func PathToken(secret string) string {
	sum := sha256.Sum256([]byte(PathTokenPrefix + secret))
	return hex.EncodeToString(sum[:])
}

// CheckPath reports whether segment is the secret path segment, in
// constant time; an empty secret matches nothing.
func (v *Verifier) CheckPath(segment string) bool {
	st := v.current()
	if st == nil || st.path == "" {
		return false
	}
	got, want := sha256.Sum256([]byte(segment)), sha256.Sum256([]byte(st.path))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// current is the secret to check a call against: the fixed one, or the
// token file's as last read (see secretFile.refresh).
func (v *Verifier) current() *secretState {
	if v == nil {
		return nil
	}
	if f := v.file.Load(); f != nil {
		f.refresh(v)
	}
	return v.state.Load()
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

// tokenHeaders carry the secret itself; they authenticate a call before
// its body is read, like a bearer token.
var tokenHeaders = []string{GitLabTokenHeader, JFrogAuthHeader}

// CheckHeaders authenticates what it can before the body is read: true
// when a token (bearer, GitLab's, JFrog's) is right; false with no error
// when only a signature over the body can tell (read it, size-limited,
// then call VerifyBody); an error when the call cannot be authenticated
// at all. A refusal names the header that was wrong.
func (v *Verifier) CheckHeaders(r *http.Request) (bearer bool, err error) {
	st := v.current()
	if st == nil || len(st.secret) == 0 {
		return false, ErrNoSecret
	}
	auth, sig := r.Header.Get("Authorization"), signatureScheme(r)
	type token struct{ header, value string }
	var tokens []token
	for _, h := range tokenHeaders {
		if t := r.Header.Get(h); t != "" {
			tokens = append(tokens, token{h, t})
		}
	}
	if auth == "" && sig == nil && len(tokens) == 0 {
		return false, ErrMissingCredentials
	}
	if auth != "" {
		if err = st.bearer(auth); err == nil {
			return true, nil
		}
	}
	for _, t := range tokens {
		if st.token(CleanSecret(t.value)) {
			return true, nil
		}
		if err == nil && (sig == nil || sig.header != t.header) {
			err = fmt.Errorf("%s: %w", t.header, ErrBadToken)
		}
	}
	if sig != nil {
		return false, nil // a proxy may add its own Authorization; a right signature still wins
	}
	return false, err
}

// VerifyBody checks the call's signature over body: ErrBadSignature,
// ErrStale or ErrReplay when it does not hold.
func (v *Verifier) VerifyBody(r *http.Request, body []byte) error {
	st := v.current()
	if st == nil || len(st.secret) == 0 {
		return ErrNoSecret
	}
	s := signatureScheme(r)
	if s == nil {
		return fmt.Errorf("%w: no signature header", ErrBadSignature)
	}
	now := v.now()
	signed, err := s.verify(st.secret, body, r.Header.Get(s.header), r.Header.Get(TimestampHeader), now)
	if err != nil {
		return fmt.Errorf("%s: %w", s.header, err)
	}
	return v.replays.Check(signed, now)
}

// sigScheme is one signature header and how its value is checked.
type sigScheme struct {
	header string
	verify func(secret, body []byte, value, ts string, now time.Time) (hmacsig.Signed, error)
}

// signatureSchemes in the order they are looked for: the first header
// present is the one checked. GitHub sends X-Hub-Signature (sha1=) beside
// X-Hub-Signature-256, so the latter comes first.
var signatureSchemes = []sigScheme{
	{SignatureHeader, hmacsig.Verify},
	{GitHubSignatureHeader, hmacsig.Verify},
	{HubSignatureHeader, hmacsig.Verify},
	{GiteaSignatureHeader, bareHex(sha256.New, "sha256")},
	{NexusSignatureHeader, bareHex(sha1.New, "sha1")},
	{JFrogAuthHeader, bareHex(sha256.New, "sha256")},
}

// giteaScheme is X-Gitea-Signature's entry in signatureSchemes.
var giteaScheme = &signatureSchemes[3]

// signatureScheme is the call's signature header, nil when it has none.
// Gitea sends X-Hub-Signature-256 and X-Hub-Signature beside its own: a
// call with X-Gitea-Event is checked (and refused) by X-Gitea-Signature.
// GitHub's and older Gitea's X-Hub-Signature holds sha1=, which ferry
// does not take; it is passed over when another signature is present.
func signatureScheme(r *http.Request) *sigScheme {
	if r.Header.Get("X-Gitea-Event") != "" && r.Header.Get(GiteaSignatureHeader) != "" {
		return giteaScheme
	}
	var sha1Hub *sigScheme
	for i := range signatureSchemes {
		s := &signatureSchemes[i]
		v := r.Header.Get(s.header)
		if v == "" {
			continue
		}
		if s.header == HubSignatureHeader && len(v) > 5 && strings.EqualFold(v[:5], "sha1=") {
			sha1Hub = s
			continue
		}
		if s.header == JFrogAuthHeader && !isHex(v, sha256.Size) {
			continue // a token, not a signature: CheckHeaders has judged it
		}
		return s
	}
	return sha1Hub
}

// bareHex checks a header holding only the hex HMAC of the body, as
// Gitea, Nexus and JFrog send it; an "algo=" prefix naming the same
// algorithm is tolerated. There is no timestamp to guard against replay.
func bareHex(h func() hash.Hash, algo string) func(secret, body []byte, value, _ string, _ time.Time) (hmacsig.Signed, error) {
	return func(secret, body []byte, value, _ string, _ time.Time) (hmacsig.Signed, error) {
		value = strings.TrimSpace(value)
		if a, rest, ok := strings.Cut(value, "="); ok && strings.EqualFold(a, algo) {
			value = rest
		}
		m := hmac.New(h, secret)
		m.Write(body)
		want := m.Sum(nil)
		got, err := hex.DecodeString(value)
		if err != nil || len(got) != len(want) {
			return hmacsig.Signed{}, fmt.Errorf("%w: want %d hex digits of HMAC-%s", ErrBadSignature, 2*len(want), strings.ToUpper(algo))
		}
		if !hmac.Equal(got, want) {
			return hmacsig.Signed{}, ErrBadSignature
		}
		return hmacsig.Signed{}, nil
	}
}

func (st *secretState) bearer(header string) error {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return fmt.Errorf("Authorization: %w", errors.Join(ErrBadToken, errors.New("not a Bearer token")))
	}
	if !st.token(CleanSecret(token)) {
		return fmt.Errorf("Authorization: Bearer: %w", ErrBadToken)
	}
	return nil
}

// token compares a token with the secret; hashing first keeps the compare
// blind to the secret's length.
func (st *secretState) token(t string) bool {
	got := sha256.Sum256([]byte(t))
	return subtle.ConstantTimeCompare(got[:], st.digest[:]) == 1
}

// isHex reports whether s is the hex of n bytes.
func isHex(s string, n int) bool {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	return err == nil && len(b) == n
}
