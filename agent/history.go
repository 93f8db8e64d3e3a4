package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/agent/fleet"
)

// Trailer keys of DESIGN.md's commit contract.
const (
	TrailerApp      = "Ferry-App"
	TrailerEnv      = "Ferry-Env"
	TrailerFrom     = "Ferry-From"
	TrailerVersion  = "Ferry-Version"
	TrailerDigest   = "Ferry-Digest"
	TrailerDecision = "Ferry-Decision"
	TrailerPolicy   = "Ferry-Policy"
	TrailerEvidence = "Ferry-Evidence"
	TrailerCreated  = "Ferry-Created" // the image's creation time, RFC 3339
)

// history remembers which (app, env, version) ferry has promoted, read from
// commit trailers. It is a cache of Git: rebuilt from the log on start, and
// extended with the commits that arrived since the last look.
type history struct {
	head string
	done map[string]struct{}
}

func newHistory() *history { return &history{done: map[string]struct{}{}} }

func promotionKey(app, env string, v Version) string {
	return app + "\x00" + env + "\x00" + v.Tag + "\x00" + v.Digest
}

func (h *history) promoted(app, env string, v Version) bool {
	_, ok := h.done[promotionKey(app, env, v)]
	return ok
}

func (h *history) record(app, env string, v Version) {
	h.done[promotionKey(app, env, v)] = struct{}{}
}

// forget drops every promotion of app's tag into env (any digest).
func (h *history) forget(app, env, tag string) {
	prefix := app + "\x00" + env + "\x00" + tag + "\x00"
	for k := range h.done {
		if strings.HasPrefix(k, prefix) {
			delete(h.done, k)
		}
	}
}

// update reads the commits between the last seen head and snap.
func (h *history) update(ctx context.Context, repo Fleet, snap *fleet.Snapshot) error {
	if snap.Hash() == h.head {
		return nil
	}
	var found []fleet.Commit
	reachedKnown := false
	err := repo.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
		if c.Hash == h.head {
			reachedKnown = true
			return false, nil
		}
		found = append(found, c)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("read history at %s: %w", shortHash(snap.Hash()), err)
	}
	if h.head != "" && !reachedKnown {
		// The branch no longer contains what we saw: someone rewrote it.
		// Start over from what it holds now.
		h.done = map[string]struct{}{}
	}
	// Oldest first: a rollback forgets the promotion it undid, so that once
	// a person un-rejects the version it may move again. Only a person's
	// replacement keeps ferry from promoting a version a second time.
	for i := len(found) - 1; i >= 0; i-- {
		m := found[i].Message
		if app, env, v, ok := promotionOf(m); ok {
			h.record(app, env, v)
		}
		if strings.HasPrefix(m.Subject, "rollback ") {
			for _, bad := range m.TrailerValues(TrailerRejects) {
				h.forget(m.Trailer(TrailerApp), m.Trailer(TrailerEnv), bad)
			}
		}
	}
	h.head = snap.Hash()
	return nil
}

// promotionOf recognises a promotion commit written by ferry.
func promotionOf(m fleet.Message) (app, env string, v Version, ok bool) {
	app, env = m.Trailer(TrailerApp), m.Trailer(TrailerEnv)
	v = Version{Tag: m.Trailer(TrailerVersion), Digest: m.Trailer(TrailerDigest)}
	if app == "" || env == "" || v.IsZero() || len(m.Subject) < len("promote ") || m.Subject[:len("promote ")] != "promote " {
		return "", "", Version{}, false
	}
	return app, env, v, true
}
