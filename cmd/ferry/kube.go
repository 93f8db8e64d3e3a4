package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/analysis"
)

// clusterVerifier is the Kubernetes verifier of the environments that name
// a cluster; nil when none does. Clients are built on first use, so a bad
// kubeconfig holds only its environment (verification inconclusive).
func clusterVerifier(p *config.Pipeline, log *slog.Logger) (agent.ClusterVerifier, error) {
	v := newKubeVerifier(p, log, nil)
	if v == nil {
		return nil, nil
	}
	return kubeClusters{v}, nil
}

// kubeClusters is the agent's ClusterVerifier over agent/kube, which
// knows nothing of the agent: the check changes type, not shape.
type kubeClusters struct{ v *kube.Verifier }

func (k kubeClusters) Verify(ctx context.Context, c agent.ClusterCheck) (analysis.Verdict, string, error) {
	return k.v.Verify(ctx, kube.Check(c))
}

// clusterVerifierFor is clusterVerifier that also accepts a later commit of
// the fleet repo applied by Flux or Argo CD as proof the promotion commit
// was applied (other apps' promotions move the branch on).
func clusterVerifierFor(p *config.Pipeline, repo *fleet.Repo, log *slog.Logger) (agent.ClusterVerifier, error) {
	v := newKubeVerifier(p, log, fleetAncestry(repo))
	if v == nil {
		return nil, nil
	}
	return kubeClusters{v}, nil
}

func newKubeVerifier(p *config.Pipeline, log *slog.Logger, ancestry func(ctx context.Context, commit, revision string) (bool, error)) *kube.Verifier {
	has := false
	for _, env := range p.Environments {
		has = has || env.Cluster != nil
	}
	if !has {
		return nil
	}
	images := make(map[string]string, len(p.Apps))
	for _, app := range p.Apps {
		images[app.Name] = app.Image
	}
	return kube.NewVerifier(kube.Options{Images: images, Ancestry: ancestry, Logger: log})
}

// maxAncestry bounds the walk from an applied revision back to a commit:
// the controller applies within minutes, so the revision it shows is rarely
// more than a few commits past the one being verified.
const maxAncestry = 1000

// fleetAncestry tells whether revision is commit or a first-parent
// descendant of it in the fleet repo ferry keeps.
func fleetAncestry(repo *fleet.Repo) func(ctx context.Context, commit, revision string) (bool, error) {
	if repo == nil {
		return nil
	}
	return func(ctx context.Context, commit, revision string) (bool, error) {
		snap, err := repo.Snapshot(revision)
		if err != nil {
			return false, fmt.Errorf("revision %s: %w", revision, err)
		}
		found, n := false, 0
		errStop := errors.New("stop")
		err = repo.Log(ctx, snap, func(c fleet.Commit) (bool, error) {
			n++
			if c.Hash == commit {
				found = true
				return false, nil
			}
			if n >= maxAncestry {
				return false, errStop
			}
			return true, nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return false, fmt.Errorf("history of %s: %w", revision, err)
		}
		return found, nil
	}
}
