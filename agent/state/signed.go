package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/trust/gitsig"
)

// SignedLog is the history with the commits' signatures (*fleet.Repo).
type SignedLog interface {
	Log
	SignedCommit(hash string) (fleet.SignedCommit, error)
}

// Verify-commits modes of git.verifyCommits.mode.
const (
	VerifyOff     = "off"
	VerifyWarn    = "warn"
	VerifyRequire = "require"
)

// SignedBy says whether the commit that set a version is signed by a
// trusted signer: the policies' input.current.signed_by.
type SignedBy struct {
	Commit   string
	Author   string // the author's email, as the commit says
	Verified bool
	Signer   string // the allowed signer's principals or the OpenPGP user ID
	Key      string // SSH SHA256 fingerprint or OpenPGP fingerprint
	Reason   string // why not verified
}

// Input is the policy input's shape of s.
func (s SignedBy) Input() map[string]any {
	m := map[string]any{"verified": s.Verified, "commit": s.Commit}
	for k, v := range map[string]string{"signer": s.Signer, "key": s.Key, "author": s.Author, "reason": s.Reason} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// Describe names the commit, its author and why it failed, for a reason
// in a plan or a log line.
func (s SignedBy) Describe() string {
	return fmt.Sprintf("commit %s by %s is not verified: %s", ledger.ShortHash(s.Commit), s.Author, s.Reason)
}

// Signatures checks the commits that set versions against the signers
// kept in the fleet repo (git.verifyCommits). The signers files are
// trusted as a chain: their first version is the root (trust on first
// use), and a later change is honoured only when the commit that made it
// is verified by the signers as they were before it, so a push cannot
// add its own key. ferry's own key always verifies ferry's commits.
// Safe for concurrent use.
type Signatures struct {
	mode, allowed, keyring string
	own                    gitsig.Signers
	repo                   SignedLog
	log                    *slog.Logger

	mu       sync.Mutex
	head     string
	trust    *signerState
	reported map[string]bool // commits already warned about
}

// NewSignatures builds the checker for cfg's git.verifyCommits; nil when
// the mode is off. own is ferry's signing key (nil when it signs nothing).
func NewSignatures(cfg config.VerifyCommits, repo SignedLog, own gitsig.Signer, author string, log *slog.Logger) *Signatures {
	if cfg.Mode == "" || cfg.Mode == VerifyOff {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Signatures{mode: cfg.Mode, allowed: cfg.AllowedSigners, keyring: cfg.Keyring, repo: repo, log: log, reported: map[string]bool{}}
	switch k := own.(type) {
	case *gitsig.SSHSigner:
		s.own.SSH = []gitsig.AllowedSigner{{Principals: []string{author}, Key: k.PublicKey()}}
	case *gitsig.OpenPGPSigner:
		s.own.OpenPGP = openpgp.EntityList{k.Entity()}
	}
	return s
}

// Mode is require or warn (a nil Signatures is off).
func (s *Signatures) Mode() string {
	if s == nil {
		return VerifyOff
	}
	return s.mode
}

// signerState is the trusted signers at one head.
type signerState struct {
	signers gitsig.Signers
	err     error // the adopted signers are malformed: nothing verifies
	// missing says, by signature kind ("ssh", "openpgp"), why no key of
	// that kind can be trusted: its configured file is not at the head.
	missing map[string]string
	checked map[string]SignedBy
}

// Check says whether commit (a full hash, reachable from snap) is signed
// by a signer trusted at snap. The first failure of each commit is logged
// as a warning.
func (s *Signatures) Check(ctx context.Context, snap *fleet.Snapshot, commit string) (SignedBy, error) {
	t, err := s.at(ctx, snap)
	if err != nil {
		return SignedBy{}, err
	}
	s.mu.Lock()
	res, ok := t.checked[commit]
	s.mu.Unlock()
	if ok {
		return res, nil
	}
	sc, err := s.repo.SignedCommit(commit)
	if err != nil {
		return SignedBy{}, fmt.Errorf("verify commit %s: %w", ledger.ShortHash(commit), err)
	}
	res = SignedBy{Commit: commit, Author: sc.Author.Email}
	if t.err != nil {
		res.Reason = "the signers are unreadable: " + t.err.Error()
	} else {
		r := merge(t.signers, s.own).Verify(gitsig.Commit{Hash: commit, Payload: sc.Payload, Signature: sc.Signature, Time: sc.Time})
		res.Verified, res.Signer, res.Key, res.Reason = r.Verified, r.Signer, r.Key, r.Reason
		if why := t.missing[r.Kind]; !r.Verified && why != "" {
			// A typo in ferry.yaml would otherwise read as an unknown key.
			res.Reason += ": " + why
		}
	}
	s.mu.Lock()
	t.checked[commit] = res
	first := !res.Verified && !s.reported[commit]
	if first {
		s.reported[commit] = true
	}
	s.mu.Unlock()
	if first {
		s.log.Warn("unverified commit", "commit", ledger.ShortHash(commit), "author", res.Author, "mode", s.mode, "reason", res.Reason)
	}
	return res, nil
}

// CheckRun checks the commit that brought env's current version of app
// (RunStart); found is false when history does not show one.
func (s *Signatures) CheckRun(ctx context.Context, st *State, app *config.App, env *config.Environment) (SignedBy, bool, error) {
	c, ok, err := RunStart(ctx, s.repo, st, app, env, st.Version(app, env.Name))
	if err != nil || !ok {
		return SignedBy{}, false, err
	}
	res, err := s.Check(ctx, st.Snap, c.Hash)
	return res, err == nil, err
}

func merge(a, b gitsig.Signers) *gitsig.Signers {
	return &gitsig.Signers{SSH: slices.Concat(a.SSH, b.SSH), OpenPGP: slices.Concat(a.OpenPGP, b.OpenPGP)}
}

// at is the trusted signers at snap, worked out once per head.
func (s *Signatures) at(ctx context.Context, snap *fleet.Snapshot) (*signerState, error) {
	s.mu.Lock()
	if s.head == snap.Hash() {
		t := s.trust
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	t, err := s.chain(ctx, snap)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.head, s.trust = snap.Hash(), t
	s.mu.Unlock()
	return t, nil
}

// chain walks the commits that changed the signers files, oldest first,
// and adopts each change the signers before it verify.
func (s *Signatures) chain(ctx context.Context, snap *fleet.Snapshot) (*signerState, error) {
	changed := map[string]bool{}
	for _, p := range s.paths() {
		err := s.repo.LogPath(ctx, snap, p, func(c fleet.Commit) (bool, error) {
			changed[c.Hash] = true
			return true, nil
		})
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", p, err)
		}
	}
	// One first-parent walk puts the changes of both files in order.
	var order []string
	if len(changed) > 0 {
		left := len(changed)
		err := s.repo.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
			if changed[c.Hash] {
				order = append(order, c.Hash)
				left--
			}
			return left > 0, nil
		})
		if err != nil {
			return nil, fmt.Errorf("history of the signers: %w", err)
		}
	}
	slices.Reverse(order)
	t := &signerState{checked: map[string]SignedBy{}}
	var good gitsig.Signers // the last readable signers: they judge the next change
	rooted := false
	for _, h := range order {
		at, err := s.repo.Snapshot(h)
		if err != nil {
			return nil, err
		}
		signers, perr := s.read(at)
		if !rooted {
			// The first readable version is the root. A malformed first
			// version roots nothing: the next readable one does.
			if perr == nil {
				good, rooted = signers, true
			}
			t.err = perr
			continue
		}
		sc, err := s.repo.SignedCommit(h)
		if err != nil {
			return nil, err
		}
		r := good.Verify(gitsig.Commit{Hash: h, Payload: sc.Payload, Signature: sc.Signature, Time: sc.Time})
		if !r.Verified {
			s.log.Warn("change to the signers ignored", "commit", ledger.ShortHash(h), "author", sc.Author.Email,
				"reason", "not verified by the signers before it: "+r.Reason)
			continue
		}
		if perr != nil {
			t.err = perr // a verified signer broke the file: fail closed until fixed
			continue
		}
		good, t.err = signers, nil
	}
	// The head decides as well: a signers file that became a link by an
	// ignored change still leaves history through its target unseen.
	if err := s.regular(snap); err != nil && (t.err == nil || t.err.Error() != err.Error()) {
		t.err = errors.Join(t.err, err)
	}
	t.missing = map[string]string{}
	for kind, p := range map[string]string{"ssh": s.allowed, "openpgp": s.keyring} {
		if p == "" {
			continue
		}
		if _, err := fs.Lstat(snap.FS(), p); errors.Is(err, fs.ErrNotExist) {
			t.missing[kind] = fmt.Sprintf("the signers file %s does not exist in the fleet repo at %s", p, ledger.ShortHash(snap.Hash()))
			s.log.Warn("a configured signers file does not exist", "file", p, "head", ledger.ShortHash(snap.Hash()))
		}
	}
	if t.err != nil {
		s.log.Error("signers unreadable: no commit is verified", "err", t.err)
	}
	t.signers = good
	return t, nil
}

// regular refuses a signers file that is not a regular file in plain
// directories: through a symbolic link, the history of the path (which
// the chain walks) is not the history of the content read, so changes
// through the link's target would never be checked.
func (s *Signatures) regular(snap *fleet.Snapshot) error {
	var errs []error
	for _, p := range s.paths() {
		if err := regularFile(snap, p); err != nil {
			errs = append(errs, fmt.Errorf("%w at %s", err, ledger.ShortHash(snap.Hash())))
		}
	}
	return errors.Join(errs...)
}

func regularFile(snap *fleet.Snapshot, p string) error {
	fsys := snap.FS()
	parts := strings.Split(p, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		info, err := fs.Lstat(fsys, sub)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // absent: no signers
		case err != nil:
			return fmt.Errorf("%s: %w", p, err)
		case info.Mode()&fs.ModeSymlink != 0 && sub == p:
			return fmt.Errorf("%s is a symlink: the signers file must be a regular file", p)
		case info.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s: %s is a symlink: the signers file must be a regular file in a plain directory", p, sub)
		case sub == p && !info.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file: the signers file must be a regular file", p)
		}
	}
	return nil
}

func (s *Signatures) paths() []string {
	var out []string
	for _, p := range []string{s.allowed, s.keyring} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// read parses the signers files at snap; an absent file holds no signers.
func (s *Signatures) read(snap *fleet.Snapshot) (gitsig.Signers, error) {
	var out gitsig.Signers
	if err := s.regular(snap); err != nil {
		return out, err
	}
	var errs []error
	at := " at " + ledger.ShortHash(snap.Hash())
	if s.allowed != "" {
		data, err := snap.ReadFile(s.allowed)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		default:
			if out.SSH, err = gitsig.ParseAllowedSigners(s.allowed, data); err != nil {
				errs = append(errs, fmt.Errorf("%w%s", err, at))
			}
		}
	}
	if s.keyring != "" {
		data, err := snap.ReadFile(s.keyring)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		default:
			if out.OpenPGP, err = gitsig.ParseKeyring(s.keyring, data); err != nil {
				errs = append(errs, fmt.Errorf("%w%s", err, at))
			}
		}
	}
	return out, errors.Join(errs...)
}
