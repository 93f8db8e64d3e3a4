// The loop's verifications: each owed analysis started once, its verdict
// recorded and, when failed, turned into a rollback.

package agent

import (
	"context"
	"time"

	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
)

// startVerification runs a verification not already under way in its own
// goroutine, at once: a step pushed starts its analysis, not the next pass.
// readAt is when the read that found it owed began.
func (l *Loop) startVerification(ctx context.Context, v Verification, readAt time.Time) {
	// One run per key: a pass and a push may report the same verification,
	// and a pass that read the repo before a run ended reports it again.
	// A second run could reach another verdict on the same commit (H10 saw
	// two), and a Failed one would roll back a version judged Successful.
	l.mu.Lock()
	if fin, ok := l.finished[v.Key()]; l.running[v.Key()] || (ok && readAt.Before(fin)) {
		l.mu.Unlock()
		return
	}
	l.running[v.Key()] = true
	l.mu.Unlock()
	l.agent.obs.Log.Info("analysis started", "app", v.App, "env", v.Env, "version", v.Version.Tag, "step", v.Step,
		"analysis", v.Template, "commit", ledger.ShortHash(v.Commit))
	if l.OnVerifying != nil {
		l.OnVerifying(v)
	}
	go func() {
		res, err := l.agent.Verify(ctx, v)
		l.verdict(ctx, v, res, err)
		l.mu.Lock()
		delete(l.running, v.Key())
		l.finished[v.Key()] = l.clock.Now()
		for k, at := range l.finished {
			if l.clock.Since(at) > time.Hour { // no read is older than that
				delete(l.finished, k)
			}
		}
		l.mu.Unlock()
	}()
}

// verdict records a verification's verdict and acts on it: a failed one
// asks the alert worker for a rollback bound to what it judged.
func (l *Loop) verdict(ctx context.Context, v Verification, res analysis.Result, err error) {
	if err != nil {
		if ctx.Err() == nil {
			l.agent.obs.Log.Error("analysis", "app", v.App, "env", v.Env, "err", err)
		}
		return
	}
	rollback, err := l.agent.Record(ctx, v, res)
	if err != nil {
		// The verification is owed again: the next pass finds no verdict and runs it.
		l.agent.obs.Log.Error("record verdict", "app", v.App, "env", v.Env, "err", err)
	}
	if l.OnVerdict != nil {
		l.OnVerdict(v, res)
	}
	if rollback != nil {
		l.OnAlerts(ctx, []Alert{*rollback})
		return // the alert worker asks for a pass
	}
	l.Trigger(Scope{Reason: "analysis " + string(res.Verdict)})
}
