package webhook

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CleanSecret is the webhook secret as ferry uses it, from a token file,
// FERRY_WEBHOOK_TOKEN or a request's token header alike: without the
// whitespace around it (a trailing newline, CRLF, padding spaces). The
// bearer check, the signature key and the secret path all use it, so
// `ferry webhook-path` and the README's shell formula agree.
func CleanSecret(s string) string { return strings.TrimSpace(s) }

// ReadSecretFile reads the webhook secret from path, cleaned as
// CleanSecret does. An empty file, or a secret of more than one line (no
// header can carry it), is an error; the error never holds the secret.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read webhook secret: %w", err) // *PathError: op, path and cause only
	}
	s := CleanSecret(string(b))
	switch {
	case s == "":
		return "", fmt.Errorf("read webhook secret %s: file is empty", path)
	case strings.ContainsAny(s, "\r\n"):
		return "", fmt.Errorf("read webhook secret %s: more than one line", path)
	}
	return s, nil
}

// SecretRecheck is how often at most a token file is looked at again.
const SecretRecheck = time.Second

// NewFileVerifier returns a Verifier whose secret follows the file at
// path: a call more than SecretRecheck after the last look stats it, and
// a changed file (another inode, size or modification time) is read
// again, so a rotated secret (and with it the secret path) takes over
// within a second, and the old one stops working. A file that becomes
// unreadable or empty refuses every call until it is fixed, and logs one
// error. The first read must succeed.
func NewFileVerifier(path string, log *slog.Logger) (*Verifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{now: time.Now, log: log}
	v.file.Store(&secretFile{log: log})
	if err := v.file.Load().use(v, path); err != nil {
		return nil, err
	}
	return v, nil
}

// SetTokenFile makes the secret follow the file at path from now on (a
// reloaded ferry.yaml naming another webhooks.tokenFile). A Verifier made
// by NewVerifier becomes one that follows the file. An unreadable file
// refuses every call until it is fixed.
func (v *Verifier) SetTokenFile(path string) error {
	log := v.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v.file.CompareAndSwap(nil, &secretFile{log: log})
	return v.file.Load().use(v, path)
}

// secretFile is a token file and what was last seen of it.
type secretFile struct {
	log  *slog.Logger
	next atomic.Int64 // unix nanoseconds before which the file is not looked at

	mu      sync.Mutex
	path    string
	seen    fs.FileInfo // nil: never read, or unreadable
	failing bool        // the error has been logged
}

// use switches to path and reads it now.
func (f *secretFile) use(v *Verifier, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.path, f.seen = path, nil
	return f.reload(v, v.now())
}

// refresh looks at the file again when SecretRecheck has passed: a stat,
// and a read only when it changed. Concurrent calls wait for the one
// looking, so no call is checked against a secret older than the file's.
func (f *secretFile) refresh(v *Verifier) {
	now := v.now()
	if now.UnixNano() < f.next.Load() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.UnixNano() < f.next.Load() {
		return // another call looked meanwhile
	}
	if err := f.reload(v, now); err != nil && !f.failing {
		f.failing = true
		f.log.Error("webhook token file unreadable: every webhook call is refused until it is fixed", "err", err)
	}
}

// reload reads the file if it changed since it was last seen; on an error
// the secret becomes empty (every call refused). f.mu is held.
func (f *secretFile) reload(v *Verifier, now time.Time) error {
	f.next.Store(now.Add(SecretRecheck).UnixNano())
	fi, err := os.Stat(f.path)
	if err == nil && f.seen != nil && os.SameFile(fi, f.seen) && fi.Size() == f.seen.Size() && fi.ModTime().Equal(f.seen.ModTime()) {
		return nil
	}
	secret := ""
	if err == nil {
		secret, err = ReadSecretFile(f.path)
	}
	if err != nil {
		f.seen = nil
		v.state.Store(newSecretState(""))
		return err
	}
	f.seen = fi
	if f.failing {
		f.failing = false
		f.log.Info("webhook token file readable again", "file", f.path)
	}
	v.state.Store(newSecretState(secret))
	return nil
}

// SetLogger is where a Verifier made by NewVerifier logs a token file it
// is later told to follow (SetTokenFile) becoming unreadable; call it
// before the Verifier is used.
func (v *Verifier) SetLogger(log *slog.Logger) { v.log = log }

// SetSecret fixes the secret from now on, the token file no longer
// followed (a reloaded ferry.yaml without webhooks.tokenFile falls back
// to FERRY_WEBHOOK_TOKEN as read at start).
func (v *Verifier) SetSecret(secret string) {
	v.file.Store(nil)
	v.state.Store(newSecretState(CleanSecret(secret)))
}
