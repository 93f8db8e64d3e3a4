package trust

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
)

// counting answers with res (or err) and counts the calls.
type counting struct {
	res   Result
	err   error
	calls atomic.Int32
}

func (c *counting) Verify(context.Context, Image) (Result, error) {
	c.calls.Add(1)
	return c.res, c.err
}

var app = &config.App{Name: "web", Image: "registry.example/web"}

const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"

// TestCheckerVerifiesADigestOnce: a trusted answer is kept (for Remember),
// an untrusted one and an error are asked again (a signature pushed after
// the tag is found at the next look).
func TestCheckerVerifiesADigestOnce(t *testing.T) {
	key := Signature{Kind: KindCosign, Signer: "SHA256:k", Key: "cosign.pub", Format: "bundle"}
	for _, tc := range []struct {
		name      string
		v         *counting
		wantCalls int32
	}{
		{"trusted", &counting{res: Result{Signatures: []Signature{key}}}, 1},
		{"untrusted", &counting{res: Result{Problems: []string{"no signature"}}}, 3},
		{"unreadable", &counting{err: errors.New("connection refused")}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewChecker(map[string][]Verifier{"web": {tc.v}})
			for range 3 {
				_, _ = c.Check(t.Context(), app, digest)
			}
			if got := tc.v.calls.Load(); got != tc.wantCalls {
				t.Errorf("%d verifications, want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestCheckerMergesVerifiers: any verifier's signature trusts the image,
// one signer found in two formats is one signature, and an unreadable
// registry is an error whatever the others found.
func TestCheckerMergesVerifiers(t *testing.T) {
	bundle := Signature{Kind: KindCosign, Signer: "SHA256:k", Key: "cosign.pub", Format: "bundle"}
	tag := bundle
	tag.Format = "tag"
	cosign := &counting{res: Result{Signatures: []Signature{bundle, tag}}}
	notation := &counting{res: Result{Problems: []string{"no Notation signature"}}}
	res, err := NewChecker(map[string][]Verifier{"web": {cosign, notation}}).Check(t.Context(), app, digest)
	if err != nil || !res.Trusted() || len(res.Signatures) != 1 || len(res.Problems) != 1 {
		t.Fatalf("got %+v, %v; want one signature and the Notation problem", res, err)
	}
	down := &counting{err: errors.New("connection refused")}
	if _, err := NewChecker(map[string][]Verifier{"web": {cosign, down}}).Check(t.Context(), app, digest); err == nil {
		t.Error("an unreadable registry gave no error")
	}
	res, err = NewChecker(map[string][]Verifier{"web": {cosign}}).Check(t.Context(), app, "")
	if err != nil || res.Trusted() || res.Why() == "" {
		t.Errorf("no digest: %+v, %v; want untrusted, saying why", res, err)
	}
}

// TestCheckerRemembersForAWhile: a trusted answer is asked again after
// Remember, so an attestation attached later (a new scan) is read.
func TestCheckerRemembersForAWhile(t *testing.T) {
	v := &counting{res: Result{Signatures: []Signature{{Kind: KindCosign, Signer: "SHA256:k"}}}}
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	c := NewChecker(map[string][]Verifier{"web": {v}})
	c.Now = func() time.Time { return now }
	for _, step := range []time.Duration{0, Remember - time.Second, 2 * time.Second, time.Second} {
		now = now.Add(step)
		if _, err := c.Check(t.Context(), app, digest); err != nil {
			t.Fatal(err)
		}
	}
	if got := v.calls.Load(); got != 2 {
		t.Errorf("%d verifications over Remember and a bit, want 2", got)
	}
}
