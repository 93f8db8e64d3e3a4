// Package webhook serves ferry's authenticated webhook endpoints (DESIGN.md
// "Webhooks") and parses the payloads registries and forges send to them.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>".
const SignatureHeader = "X-Ferry-Signature"

// Reasons Verify refuses a call. None of them ever holds the secret.
var (
	ErrNoSecret           = errors.New("no webhook secret configured: every call is refused")
	ErrMissingCredentials = errors.New("missing credentials: send Authorization: Bearer <secret> or " + SignatureHeader + ": sha256=<hex hmac>")
	ErrBadToken           = errors.New("bad bearer token")
	ErrBadSignature       = errors.New("bad signature")
)

// Verifier checks that a webhook call knows the shared secret.
type Verifier struct {
	secret []byte
	digest [sha256.Size]byte // of the secret, for a length-blind bearer compare
}

// NewVerifier returns a Verifier for secret; an empty secret refuses every
// call (fail closed) rather than accepting unauthenticated ones.
func NewVerifier(secret string) *Verifier {
	return &Verifier{secret: []byte(secret), digest: sha256.Sum256([]byte(secret))}
}

// Verify accepts the call when either credential is present and right:
// Authorization: Bearer <secret>, or X-Ferry-Signature: sha256=<hex
// HMAC-SHA256(body, secret)>. Comparisons take constant time.
func (v *Verifier) Verify(r *http.Request, body []byte) error {
	if v == nil || len(v.secret) == 0 {
		return ErrNoSecret
	}
	auth, sig := r.Header.Get("Authorization"), r.Header.Get(SignatureHeader)
	if auth == "" && sig == "" {
		return ErrMissingCredentials
	}
	var err error
	if auth != "" {
		if err = v.bearer(auth); err == nil {
			return nil
		}
	}
	if sig != "" {
		// A proxy may add its own Authorization; a right signature still wins.
		if err = v.signature(sig, body); err == nil {
			return nil
		}
	}
	return err
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

func (v *Verifier) signature(header string, body []byte) error {
	algo, hexMAC, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return errors.Join(ErrBadSignature, errors.New("want "+SignatureHeader+": sha256=<hex>"))
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return errors.Join(ErrBadSignature, errors.New("signature is not 64 hex digits"))
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
