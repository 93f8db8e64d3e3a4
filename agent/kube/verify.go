package kube

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/internal/clock"
)

// Options configure a Verifier.
type Options struct {
	// Images are the apps' image repositories (ferry.yaml apps[].image), by
	// app name: a rendered workload belongs to an app when a container runs
	// that repository. Without an entry, when the repository matches no
	// workload, a container matches by the version's tag or digest.
	Images map[string]string
	// Poll is how often the cluster is read while waiting; default 2s.
	Poll time.Duration
	// Ancestry, when set, tells whether revision (a commit Flux or Argo CD
	// applied) includes commit: a later commit of the fleet repo applied
	// after the promotion proves it too. Without it the applied revision must
	// name the commit itself.
	Ancestry func(ctx context.Context, commit, revision string) (bool, error)
	Logger   *slog.Logger
}

// Check is one wait until an environment's cluster runs what a commit
// holds. It has agent/verify's ClusterCheck's shape: cmd converts one into
// the other, so this package needs nothing of the agent's.
type Check struct {
	App, Env, Commit string
	Version          ledger.Version
	// Rendered is `kustomize build` of the env's overlay at Commit.
	Rendered []byte
	Cluster  config.Cluster
	Verify   config.Verify
	Timeout  time.Duration
}

// Verifier checks clusters with client-go: clients per
// cluster are built once and reused.
type Verifier struct {
	o       Options
	clients clientCache
}

// DefaultPoll is how often a Verifier reads the cluster while it waits:
// a rollout is seen within seconds, at 30 reads a minute per object.
const DefaultPoll = 2 * time.Second

// NewVerifier returns a Verifier.
func NewVerifier(o Options) *Verifier {
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{o: o, clients: clientCache{userAgent: "ferry"}}
}

// state is what one read of one object says.
type state int

const (
	waiting state = iota
	ready
	failed      // the rollout says it will not get there (progress deadline exceeded)
	unreachable // no answer: retried until the timeout
	denied      // forbidden or unauthorized: not retried
)

// probe reads one object once.
type probe struct {
	what string
	read func(ctx context.Context) (state, string)
}

// Verify waits until the cluster of check.Env runs check.Commit: every
// rendered workload of the app runs its image and has rolled out, and the
// Flux Kustomization or Argo CD Application named in verify: applied the
// commit and is ready. Failed when the timeout passes with the cluster
// answering (the reason names what was not ready), Inconclusive when it
// cannot be read (bad kubeconfig or context, unreachable, forbidden).
func (v *Verifier) Verify(ctx context.Context, c Check) (analysis.Verdict, string, error) {
	cl, err := v.clients.get(c.Cluster)
	if err != nil {
		return analysis.Inconclusive, fmt.Sprintf("cluster of %s: %v", c.Env, err), nil
	}
	probes, err := v.probes(cl, c)
	if err != nil {
		return analysis.Inconclusive, fmt.Sprintf("cluster of %s: %v", c.Env, err), nil
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = config.DefaultVerifyTimeout
	}
	// Reads get their own bound, so no round races the deadline: the
	// verdict comes from a whole round.
	deadline := time.Now().Add(timeout)
	attrs := []any{"app", c.App, "env", c.Env, "commit", short(c.Commit), "cluster", cl.host}
	for {
		worst, reasons := round(ctx, probes, v.readTimeout())
		if err := ctx.Err(); err != nil {
			return analysis.Inconclusive, "cancelled while waiting for the cluster", err
		}
		switch worst {
		case ready:
			whats := make([]string, len(probes))
			for i, p := range probes {
				whats[i] = p.what
			}
			return analysis.Successful, fmt.Sprintf("%s runs %s: %s ready", c.Env, short(c.Commit), strings.Join(whats, ", ")), nil
		case failed:
			return analysis.Failed, strings.Join(reasons, "; "), nil
		case denied:
			return analysis.Inconclusive, fmt.Sprintf("cluster of %s (%s): %s", c.Env, cl.host, strings.Join(reasons, "; ")), nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			if worst == unreachable {
				return analysis.Inconclusive, fmt.Sprintf("cluster of %s (%s) not answering for %s: %s", c.Env, cl.host, timeout, strings.Join(reasons, "; ")), nil
			}
			return analysis.Failed, fmt.Sprintf("%s not ready after %s: %s", c.Env, timeout, strings.Join(reasons, "; ")), nil
		}
		v.o.Logger.Debug("waiting for the cluster", append(attrs, "waiting", strings.Join(reasons, "; "))...)
		if err := clock.Sleep(ctx, min(v.o.Poll, left)); err != nil {
			return analysis.Inconclusive, "cancelled while waiting for the cluster", err
		}
	}
}

// readTimeout bounds one read of the cluster: an API server slower than
// 10 s counts as unreachable for that round instead of hanging it.
func (v *Verifier) readTimeout() time.Duration { return max(10*time.Second, v.o.Poll) }

// rank orders states: denied beats unreachable beats failed beats waiting.
// Failed rolls back and rejects, so it needs every other read answered.
var rank = map[state]int{ready: 0, waiting: 1, failed: 2, unreachable: 3, denied: 4}

// round reads every probe once: the worst state and the reasons of those
// not ready.
func round(ctx context.Context, probes []probe, timeout time.Duration) (state, []string) {
	worst := ready
	var reasons []string
	for _, p := range probes {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		st, why := p.read(rctx)
		cancel()
		if st == ready {
			continue
		}
		reasons = append(reasons, why)
		if rank[st] > rank[worst] {
			worst = st
		}
	}
	return worst, reasons
}

// probes lists what must be ready: the app's workloads, then Flux or Argo CD.
func (v *Verifier) probes(cl *clients, c Check) ([]probe, error) {
	ns := c.Cluster.Namespace
	if ns == "" {
		ns = "default"
	}
	// Fallback by tag or digest: an images entry with newName renders a
	// repository other than the one ferry.yaml names.
	wls, err := Workloads(c.Rendered, v.o.Images[c.App], c.Version.Tag, c.Version.Digest, ns)
	if err == nil && len(wls) == 0 && v.o.Images[c.App] != "" {
		wls, err = Workloads(c.Rendered, "", c.Version.Tag, c.Version.Digest, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("rendered overlay at %s: %w", short(c.Commit), err)
	}
	var out []probe
	for _, w := range wls {
		out = append(out, workloadProbe(cl, w))
	}
	if f := c.Verify.Flux; f != nil {
		out = append(out, v.fluxProbe(cl, *f, c.Commit))
	}
	if a := c.Verify.ArgoCD; a != nil {
		out = append(out, v.argoProbe(cl, *a, c.Commit))
	}
	// Nothing to wait for is an error, not Successful: a check of nothing
	// would pass every version.
	if len(out) == 0 {
		img := cmpOr(v.o.Images[c.App], c.App)
		return nil, fmt.Errorf("the overlay renders no Deployment, StatefulSet or DaemonSet running %s %s, and verify: names no Flux Kustomization or Argo CD Application", img, c.Version)
	}
	return out, nil
}

// classify turns a read error into a state and reason: RBAC's refusal is
// final; anything else (no answer, a server error) may pass, so it is retried.
func classify(what string, err error) (state, string) {
	if denial(err) {
		return denied, fmt.Sprintf("read %s: %v", what, err)
	}
	return unreachable, fmt.Sprintf("read %s: %v", what, err)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
