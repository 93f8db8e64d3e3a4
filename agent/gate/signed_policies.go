// Policies under git.verifyCommits: a policy change is a commit, and under
// require only a verified one changes what gates the promotions.

package gate

import (
	"context"
	"path"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/policies"
)

// acceptedPolicies is the bundle the gate decides with and the one
// refused last (so a refusal is logged once).
type acceptedPolicies struct {
	engine  *policies.Engine
	seen    bool
	refused string // the hash of the bundle refused last
}

// SetSignatures makes the gate hold policy changes to git.verifyCommits
// (nil or off: every change is taken).
func (g *Gate) SetSignatures(s *state.Signatures) {
	if s.Mode() != state.VerifyOff {
		g.sigs = s
	}
}

// signedPolicies takes engine, snap's bundle, when the commit that last
// changed the policy directory is verified, or when it is the first the
// process sees (ferry trusts what it starts with, as it does ferry.yaml;
// the Engines shared by the agents of one process remember it across
// reloads). Under require a bundle written by an unverified commit is
// refused: the gate keeps deciding with the last one it accepted, and says
// so once. Under warn it is taken and logged.
func (g *Gate) signedPolicies(ctx context.Context, snap *fleet.Snapshot, engine *policies.Engine) (*policies.Engine, error) {
	e := g.opts.Engines
	e.mu.Lock()
	last := e.signed
	e.mu.Unlock()
	if !last.seen {
		// Trusted as found at start; said, if its last change is not verified.
		if sb, found, err := g.sigs.CheckPath(ctx, snap, path.Clean(g.policyDir())); err == nil && found && !sb.Verified {
			g.opts.Logger.Warn("policies trusted as found at start, though their last change is unverified", "commit", ledger.ShortHash(sb.Commit),
				"author", sb.Author, "reason", sb.Reason)
		}
		g.accept(engine)
		return engine, nil
	}
	if sameBundle(last.engine, engine) {
		g.accept(engine)
		return engine, nil
	}
	dir := path.Clean(g.policyDir())
	sb, found, err := g.sigs.CheckPath(ctx, snap, dir)
	if err != nil {
		return nil, err
	}
	if found && sb.Verified {
		g.accept(engine)
		return engine, nil
	}
	if !found {
		sb = state.SignedBy{Commit: snap.Hash(), Reason: "history does not show which commit wrote them"}
	}
	hash := bundleHash(engine)
	e.mu.Lock()
	first := e.signed.refused != hash
	e.signed.refused = hash
	e.mu.Unlock()
	if g.sigs.Mode() == state.VerifyWarn {
		if first {
			g.opts.Logger.Warn("policies changed by an unverified commit", "dir", dir, "commit", ledger.ShortHash(sb.Commit), "author", sb.Author, "reason", sb.Reason)
		}
		g.accept(engine)
		return engine, nil
	}
	if first {
		g.opts.Logger.Error("policies changed by an unverified commit; deciding with the ones accepted before", "dir", dir,
			"commit", ledger.ShortHash(sb.Commit), "author", sb.Author, "reason", sb.Reason, "policy", bundleHash(last.engine))
	}
	return last.engine, nil
}

// policyDir is the policy directory ferry.yaml names, or the default.
func (g *Gate) policyDir() string {
	if g.opts.Config.Policies != "" {
		return g.opts.Config.Policies
	}
	return config.DefaultPolicies
}

func (g *Gate) accept(engine *policies.Engine) {
	e := g.opts.Engines
	e.mu.Lock()
	e.signed = acceptedPolicies{engine: engine, seen: true}
	e.mu.Unlock()
}

// bundleHash names a bundle; nil (no policies directory) is "none".
func bundleHash(e *policies.Engine) string {
	if e == nil {
		return NoPolicy
	}
	return e.Hash()
}

func sameBundle(a, b *policies.Engine) bool { return bundleHash(a) == bundleHash(b) }
