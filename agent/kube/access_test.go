package kube

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
)

// TestVerifyBadKubeconfig: a kubeconfig that is missing, unreadable or
// without the named context is an inconclusive verdict naming the file and
// context. No cluster is needed.
func TestVerifyBadKubeconfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(good, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: s3cr3t-token}}]
contexts: [{name: prod, context: {cluster: c, user: u}}]
current-context: prod
`), 0o600); err != nil {
		t.Fatal(err)
	}
	garbled := filepath.Join(dir, "garbled")
	if err := os.WriteFile(garbled, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cluster config.Cluster
		want    []string
	}{
		{"missing file", config.Cluster{Kubeconfig: filepath.Join(dir, "nope")}, []string{"kubeconfig " + filepath.Join(dir, "nope"), "no such file"}},
		{"missing context", config.Cluster{Kubeconfig: good, Context: "staging"}, []string{"kubeconfig " + good, `no context "staging"`}},
		{"garbled file", config.Cluster{Kubeconfig: garbled, Context: "prod"}, []string{"kubeconfig " + garbled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(Options{})
			verdict, reason, err := v.Verify(context.Background(), Check{App: "checkout", Env: "prod", Commit: commit,
				Version: ledger.Version{Tag: "1.2.0"}, Rendered: []byte(overlay("shop", "1.2.0", 1)), Cluster: tt.cluster, Timeout: time.Second})
			if err != nil || verdict != analysis.Inconclusive {
				t.Fatalf("Verify = %s %q %v, want Inconclusive", verdict, reason, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q does not name %q", reason, w)
				}
			}
			if strings.Contains(reason, "s3cr3t") {
				t.Errorf("reason %q holds the token", reason)
			}
		})
	}
}

// TestVerifyNoAccess: an unreachable API server and a ServiceAccount RBAC
// does not let read Deployments give inconclusive verdicts, never failed,
// and never show the token.
func TestVerifyNoAccess(t *testing.T) {
	c := kubetest.Start(t, kubetest.Binary(t))
	c.EnsureNamespace(t, "shop")
	token := c.ServiceAccountToken(t, "ferry", "ferry")
	forbidden := c.WriteKubeconfig(t, "ferry", token, "prod", "")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()
	down := filepath.Join(t.TempDir(), "down")
	if err := os.WriteFile(down, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://`+closed+`", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: `+token+`}}]
contexts: [{name: prod, context: {cluster: c, user: u}}]
current-context: prod
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		kubeconfig string
		want       string
	}{
		{"forbidden", forbidden, `deployments.apps "checkout" is forbidden: User "system:serviceaccount:ferry:ferry" cannot get resource "deployments"`},
		{"unreachable", down, "not answering for 500ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(Options{Poll: 50 * time.Millisecond})
			verdict, reason, err := v.Verify(context.Background(), Check{App: "checkout", Env: "prod", Commit: commit,
				Version: ledger.Version{Tag: "1.2.0"}, Rendered: []byte(overlay("shop", "1.2.0", 1)),
				Cluster: config.Cluster{Kubeconfig: tt.kubeconfig, Context: "prod"}, Timeout: 500 * time.Millisecond})
			if err != nil || verdict != analysis.Inconclusive || !strings.Contains(reason, tt.want) {
				t.Errorf("Verify = %s %q %v, want Inconclusive with %q", verdict, reason, err, tt.want)
			}
			if strings.Contains(reason, token) {
				t.Errorf("reason holds the token")
			}
		})
	}
}
