package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

const testSecret = "s3cret-token"

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerify(t *testing.T) {
	body := []byte(`{"events":[]}`)
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
		{"empty secret refuses an empty bearer", "", map[string]string{"Authorization": "Bearer "}, ErrNoSecret},
		{"empty secret refuses an empty-key signature", "", map[string]string{SignatureHeader: sign("", body)}, ErrNoSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hooks/registry", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err := NewVerifier(tt.secret).Verify(r, body)
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
