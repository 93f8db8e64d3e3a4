package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testSecret = "s3cret-token"

// sign is written here, apart from internal/hmacsig, so the tests pin the
// documented format rather than whatever the package computes.
func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// signAt signs "<unix seconds>.<body>", for the X-Ferry-Timestamp header.
func signAt(secret string, body []byte, t time.Time) (sig, ts string) {
	ts = strconv.FormatInt(t.Unix(), 10)
	return sign(secret, append([]byte(ts+"."), body...)), ts
}

func TestVerify(t *testing.T) {
	body := []byte(`{"events":[]}`)
	now := time.Unix(1_800_000_000, 0)
	fresh, freshTS := signAt(testSecret, body, now.Add(-time.Minute))
	stale, staleTS := signAt(testSecret, body, now.Add(-6*time.Minute))
	ahead, aheadTS := signAt(testSecret, body, now.Add(6*time.Minute))
	tests := []struct {
		name    string
		secret  string
		headers map[string]string
		want    error // nil: accepted
	}{
		{"bearer", testSecret, map[string]string{"Authorization": "Bearer " + testSecret}, nil},
		{"bearer scheme is case-insensitive", testSecret, map[string]string{"Authorization": "bearer " + testSecret}, nil},
		{"signature", testSecret, map[string]string{SignatureHeader: sign(testSecret, body)}, nil},
		{"signature upper-case hex", testSecret, map[string]string{SignatureHeader: "sha256=" + strings.ToUpper(strings.TrimPrefix(sign(testSecret, body), "sha256="))}, nil},
		{"right signature beside a proxy's Basic auth", testSecret, map[string]string{"Authorization": "Basic Zm9vOmJhcg==", SignatureHeader: sign(testSecret, body)}, nil},
		{"nothing", testSecret, nil, ErrMissingCredentials},
		{"wrong bearer", testSecret, map[string]string{"Authorization": "Bearer nope"}, ErrBadToken},
		{"secret as a prefix", testSecret, map[string]string{"Authorization": "Bearer " + testSecret + "x"}, ErrBadToken},
		{"basic auth", testSecret, map[string]string{"Authorization": "Basic " + testSecret}, ErrBadToken},
		{"bare secret", testSecret, map[string]string{"Authorization": testSecret}, ErrBadToken},
		{"signature with another secret", testSecret, map[string]string{SignatureHeader: sign("other", body)}, ErrBadSignature},
		{"signature of another body", testSecret, map[string]string{SignatureHeader: sign(testSecret, []byte("{}"))}, ErrBadSignature},
		{"signature not hex", testSecret, map[string]string{SignatureHeader: "sha256=zz"}, ErrBadSignature},
		{"signature truncated", testSecret, map[string]string{SignatureHeader: sign(testSecret, body)[:40]}, ErrBadSignature},
		{"signature without algorithm", testSecret, map[string]string{SignatureHeader: strings.TrimPrefix(sign(testSecret, body), "sha256=")}, ErrBadSignature},
		{"signature sha1", testSecret, map[string]string{SignatureHeader: "sha1=" + strings.TrimPrefix(sign(testSecret, body), "sha256=")}, ErrBadSignature},
		// GitHub can only send X-Hub-Signature-256, in the same format.
		{"GitHub's signature header", testSecret, map[string]string{GitHubSignatureHeader: sign(testSecret, body)}, nil},
		{"GitHub's header, wrong secret", testSecret, map[string]string{GitHubSignatureHeader: sign("other", body)}, ErrBadSignature},
		{"timestamped signature", testSecret, map[string]string{SignatureHeader: fresh, TimestampHeader: freshTS}, nil},
		{"timestamped, on GitHub's header", testSecret, map[string]string{GitHubSignatureHeader: fresh, TimestampHeader: freshTS}, nil},
		{"timestamp older than 5 minutes", testSecret, map[string]string{SignatureHeader: stale, TimestampHeader: staleTS}, ErrStale},
		{"timestamp 6 minutes ahead", testSecret, map[string]string{SignatureHeader: ahead, TimestampHeader: aheadTS}, ErrStale},
		{"timestamp moved forward", testSecret, map[string]string{SignatureHeader: stale, TimestampHeader: freshTS}, ErrBadSignature},
		{"timestamp stripped", testSecret, map[string]string{SignatureHeader: fresh}, ErrBadSignature},
		{"empty secret refuses an empty bearer", "", map[string]string{"Authorization": "Bearer "}, ErrNoSecret},
		{"empty secret refuses an empty-key signature", "", map[string]string{SignatureHeader: sign("", body)}, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hooks/registry", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			v := NewVerifier(tt.secret)
			v.now = func() time.Time { return now }
			err := v.Verify(r, body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestNilVerifierRefuses(t *testing.T) {
	var v *Verifier
	r := httptest.NewRequest("POST", "/hooks/git", nil)
	r.Header.Set("Authorization", "Bearer x")
	if err := v.Verify(r, nil); !errors.Is(err, ErrNoSecret) {
		t.Errorf("nil Verifier: %v, want ErrNoSecret", err)
	}
}

// TestVerifyReplay: a timestamped signature is accepted once within its
// window; the same call again is ErrReplay. A signature without a
// timestamp cannot be told from its replay and keeps working.
func TestVerifyReplay(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	now := time.Unix(1_800_000_000, 0)
	v := NewVerifier(testSecret)
	v.now = func() time.Time { return now }
	sig, ts := signAt(testSecret, body, now)
	call := func(headers map[string]string) error {
		r := httptest.NewRequest("POST", "/hooks/git", nil)
		for k, val := range headers {
			r.Header.Set(k, val)
		}
		return v.Verify(r, body)
	}
	if err := call(map[string]string{SignatureHeader: sig, TimestampHeader: ts}); err != nil {
		t.Fatalf("first call: %v", err)
	}
	now = now.Add(4 * time.Minute)
	if err := call(map[string]string{SignatureHeader: sig, TimestampHeader: ts}); !errors.Is(err, ErrReplay) {
		t.Errorf("replay: %v, want ErrReplay", err)
	}
	if err := call(map[string]string{GitHubSignatureHeader: sig, TimestampHeader: ts}); !errors.Is(err, ErrReplay) {
		t.Errorf("replay on the other header: %v, want ErrReplay", err)
	}
	now = now.Add(2 * time.Minute) // past the window: stale, whatever the guard remembers
	if err := call(map[string]string{SignatureHeader: sig, TimestampHeader: ts}); !errors.Is(err, ErrStale) {
		t.Errorf("replay after the window: %v, want ErrStale", err)
	}
	for i := range 2 {
		if err := call(map[string]string{SignatureHeader: sign(testSecret, body)}); err != nil {
			t.Errorf("body-only signature, call %d: %v", i+1, err)
		}
	}
}
