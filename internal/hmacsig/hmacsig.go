// Package hmacsig signs and verifies webhook bodies with HMAC-SHA256, for
// both directions: ferry's notifications carry the signature, and ferry's
// webhook endpoints check it. One package keeps the two in step.
//
// The signature header holds "sha256=<hex HMAC-SHA256>", GitHub's format
// (X-Hub-Signature-256). What is signed is:
//
//	<body>                  without a timestamp header
//	<timestamp>.<body>      with TimestampHeader: <unix seconds>
//
// where <timestamp> is the header's value exactly as sent (Stripe's
// "t.body"). A signed timestamp more than Window away from the receiver's
// clock is refused, and a ReplayGuard refuses the same signature twice
// within the window. A signature without a timestamp can be replayed by
// whoever saw the request; ferry's webhooks are idempotent (a registry
// push or alert already handled changes nothing), which makes that
// harmless, but senders that can should send the timestamp.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers a signed call carries.
const (
	SignatureHeader = "X-Ferry-Signature"   // sha256=<hex>
	GitHubHeader    = "X-Hub-Signature-256" // GitHub's name for the same
	TimestampHeader = "X-Ferry-Timestamp"   // unix seconds, optional
)

// Window is how far a signed timestamp may be from the receiver's clock,
// either way (clock skew included).
const Window = 5 * time.Minute

const prefix = "sha256="

// Reasons Verify refuses. They never hold the secret.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrStale        = errors.New("signed timestamp outside the window")
	ErrReplay       = errors.New("signature already received")
)

// Sign returns the signature header value for body sent at ts (unix
// seconds, the TimestampHeader's value); ts 0 signs the body alone.
func Sign(secret, body []byte, ts int64) string {
	return prefix + hex.EncodeToString(mac(secret, content(ts, body)))
}

// Timestamp is the TimestampHeader value for t.
func Timestamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func content(ts int64, body []byte) [][]byte {
	if ts == 0 {
		return [][]byte{body}
	}
	return [][]byte{[]byte(strconv.FormatInt(ts, 10) + "."), body}
}

func mac(secret []byte, parts [][]byte) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// Signed is a signature that verified: what a ReplayGuard remembers.
type Signed struct {
	MAC [sha256.Size]byte
	TS  int64 // 0: no timestamp (cannot be guarded against replay)
}

// Verify checks header (the signature header's value) against body and
// the timestamp header's value ts ("" when absent) at time now. The
// signature is compared in constant time; a timestamp is checked against
// Window only once the signature proves it was signed.
func Verify(secret, body []byte, header, ts string, now time.Time) (Signed, error) {
	algo, hexMAC, ok := strings.Cut(strings.TrimSpace(header), "=")
	if !ok || !strings.EqualFold(algo, "sha256") {
		return Signed{}, fmt.Errorf("%w: want sha256=<hex>", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return Signed{}, fmt.Errorf("%w: not 64 hex digits", ErrBadSignature)
	}
	var unix int64
	if ts != "" {
		// Digits only: "+1", " 1" or "0x1" would sign a string other than the
		// number the window is checked against.
		unix, err = strconv.ParseInt(ts, 10, 64)
		if err != nil || unix <= 0 || strings.TrimLeft(ts, "0123456789") != "" || ts[0] == '0' {
			return Signed{}, fmt.Errorf("%w: %s is not unix seconds", ErrBadSignature, TimestampHeader)
		}
	}
	if !hmac.Equal(got, mac(secret, content(unix, body))) {
		return Signed{}, ErrBadSignature
	}
	if unix != 0 {
		if skew := now.Sub(time.Unix(unix, 0)); skew > Window || skew < -Window {
			return Signed{}, fmt.Errorf("%w: %s is %s from this server's clock; the window is %s either way",
				ErrStale, TimestampHeader, skew.Round(time.Second).Abs(), Window)
		}
	}
	s := Signed{TS: unix}
	copy(s.MAC[:], got)
	return s, nil
}

// ReplayGuard remembers the timestamped signatures it has accepted for as
// long as their timestamp is within Window, and refuses each a second
// time. It is safe for concurrent use; the zero value is ready.
type ReplayGuard struct {
	// Max bounds the signatures remembered (default 100,000, about 6 MB);
	// when full, the one closest to leaving the window is forgotten first.
	Max int

	mu    sync.Mutex
	seen  map[[sha256.Size]byte]int64 // MAC -> timestamp
	swept time.Time                   // last time expired signatures were forgotten
}

// DefaultMaxReplays is ReplayGuard.Max when it is 0.
const DefaultMaxReplays = 100_000

// Check records s and returns ErrReplay when it was already recorded. A
// signature without a timestamp is not recorded (nothing says when it may
// be forgotten).
func (g *ReplayGuard) Check(s Signed, now time.Time) error {
	if s.TS == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[[sha256.Size]byte]int64{}
	}
	if _, dup := g.seen[s.MAC]; dup {
		return ErrReplay
	}
	max := g.Max
	if max <= 0 {
		max = DefaultMaxReplays
	}
	if len(g.seen) >= max || now.Sub(g.swept) > Window {
		g.expire(now, max)
		g.swept = now
	}
	g.seen[s.MAC] = s.TS
	return nil
}

// Len is how many signatures are remembered.
func (g *ReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

// expire forgets the signatures whose timestamp left the window (Verify
// refuses those anyway), then, if still full, the oldest one. It runs at
// most once a Window unless the guard is full, so memory follows the
// accepted calls of about the last two windows.
func (g *ReplayGuard) expire(now time.Time, max int) {
	oldest := now.Add(-Window).Unix()
	for k, ts := range g.seen {
		if ts < oldest {
			delete(g.seen, k)
		}
	}
	for len(g.seen) >= max {
		var first [sha256.Size]byte
		min := int64(-1)
		for k, ts := range g.seen {
			if min < 0 || ts < min {
				first, min = k, ts
			}
		}
		delete(g.seen, first)
	}
}
