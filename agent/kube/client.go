// Package kube reads Kubernetes to know an environment runs what ferry
// committed: the rendered overlay's workloads run its images and are
// healthy, and Flux or Argo CD applied the commit. It also holds the leader
// election and shard ownership that let several ferry replicas share a
// fleet with a single writer per app.
package kube

import (
	"errors"
	"fmt"
	"os"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ferry-dev/ferry/agent/config"
)

// ErrAccess marks a cluster ferry cannot read: a bad kubeconfig or context,
// an unreachable API server, or a verb RBAC forbids. Verification is then
// inconclusive, never failed.
var ErrAccess = errors.New("no access to the cluster")

// RESTConfig is the client configuration of a cluster: the kubeconfig file
// and context it names; without a file, in-cluster, then $KUBECONFIG and
// ~/.kube/config. Errors name the file and context, never a credential.
func RESTConfig(c config.Cluster) (*rest.Config, error) {
	if c.Kubeconfig == "" && c.Context == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	where := "the default kubeconfig ($KUBECONFIG or ~/.kube/config)"
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
		where = "kubeconfig " + c.Kubeconfig
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrAccess, where, err)
		}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	if c.Context != "" {
		raw, err := loader.RawConfig()
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %w", ErrAccess, where, err)
		}
		if _, ok := raw.Contexts[c.Context]; !ok {
			return nil, fmt.Errorf("%w: %s has no context %q", ErrAccess, where, c.Context)
		}
	}
	rc, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: %s (context %q): %w", ErrAccess, where, c.Context, err)
	}
	return rc, nil
}

// clients are the typed and dynamic clients of one cluster.
type clients struct {
	typed   kubernetes.Interface
	dynamic dynamic.Interface
	host    string
}

// clientCache builds each cluster's clients once.
type clientCache struct {
	mu sync.Mutex
	m  map[config.Cluster]*clients
	// userAgent identifies ferry in the API server's audit log.
	userAgent string
}

func (cc *clientCache) get(c config.Cluster) (*clients, error) {
	// The namespace is no part of the connection: one client per cluster.
	key := config.Cluster{Kubeconfig: c.Kubeconfig, Context: c.Context}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cl, ok := cc.m[key]; ok {
		return cl, nil
	}
	rc, err := RESTConfig(key)
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.UserAgent = cc.userAgent
	// A few reads per poll: client-go's default 5 QPS would delay them.
	rc.QPS, rc.Burst = 50, 100
	typed, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: clients for %s: %w", ErrAccess, rc.Host, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("%w: clients for %s: %w", ErrAccess, rc.Host, err)
	}
	cl := &clients{typed: typed, dynamic: dyn, host: rc.Host}
	if cc.m == nil {
		cc.m = map[config.Cluster]*clients{}
	}
	cc.m[key] = cl
	return cl, nil
}

// denial tells errors that mean ferry may not read the cluster (forbidden,
// unauthorized): waiting would not change them.
func denial(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}
