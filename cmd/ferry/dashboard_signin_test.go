package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// signInPipeline is outputPipeline's config with a dashboard: block as the
// README shows it, pointing at issuer.
func signInPipeline(t *testing.T, issuer, redirect string, sessionKey string) *config.Pipeline {
	t.Helper()
	f := newCmdFleet(t, outputPipeline, nil)
	p, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secret, []byte("client-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Dashboard = config.Dashboard{
		OIDC:  &config.OIDC{Issuer: issuer, ClientID: "ferry-dashboard", ClientSecretFile: secret, RedirectURL: redirect},
		Roles: []config.DashboardRole{{Group: "shop", Role: config.RoleViewer}},
	}
	if sessionKey != "" {
		kf := filepath.Join(dir, "session-key")
		if err := os.WriteFile(kf, []byte(sessionKey), 0o600); err != nil {
			t.Fatal(err)
		}
		p.Dashboard.SessionKeyFile = kf
	}
	return p
}

func fakeIssuer(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k", Algorithm: oidc.RS256}}}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.SetIssuer(srv.URL)
	return srv.URL
}

// TestDashSignInServe: with dashboard.oidc, ferry run's server sends a
// visitor to the issuer's authorization endpoint with the client ID and
// PKCE, and answers the action paths; the client secret is in neither.
func TestDashSignInServe(t *testing.T) {
	issuer := fakeIssuer(t)
	addr := deadAddr(t)
	p := signInPipeline(t, issuer, "http://"+addr+"/callback", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs strings.Builder
	g := &globals{log: slog.New(slog.NewTextHandler(&logs, nil))}
	srv, err := serve(ctx, addr, p, &atomic.Pointer[agent.Loop]{}, prometheus.NewRegistry(), g, "")
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(srv)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/login" {
		t.Fatalf("/: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = noRedirect.Get("http://" + addr + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, issuer+"/auth?") || !strings.Contains(loc, "client_id=ferry-dashboard") || !strings.Contains(loc, "code_challenge_method=S256") {
		t.Fatalf("/login sends to %s", loc)
	}
	if strings.Contains(loc, "client-s3cret") || strings.Contains(logs.String(), "client-s3cret") {
		t.Error("the client secret leaked")
	}
	// An action without a session: the endpoint exists and refuses.
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/actions/approve", strings.NewReader("app=checkout"))
	req.Header.Set("Origin", "http://"+addr)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /actions/approve without a session: %d", resp.StatusCode)
	}
}

// TestDashSignInStartErrors: an unreachable issuer, a missing client
// secret and a short session key stop the start, each named.
func TestDashSignInStartErrors(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	issuer := fakeIssuer(t)
	for _, tc := range []struct {
		name string
		p    func() *config.Pipeline
		want string
	}{
		{"unreachable issuer", func() *config.Pipeline {
			return signInPipeline(t, dead.URL, "http://127.0.0.1:1/callback", "")
		}, "dashboard.oidc: OIDC issuer " + dead.URL + ": discovery"},
		{"no secret file", func() *config.Pipeline {
			p := signInPipeline(t, issuer, "http://127.0.0.1:1/callback", "")
			p.Dashboard.OIDC.ClientSecretFile = filepath.Join(t.TempDir(), "absent")
			return p
		}, "dashboard.oidc.clientSecretFile: read secret"},
		{"short session key", func() *config.Pipeline {
			return signInPipeline(t, issuer, "http://127.0.0.1:1/callback", "short")
		}, "the key has 5 bytes; use at least 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &globals{log: slog.New(slog.DiscardHandler)}
			srv, err := serve(context.Background(), deadAddr(t), tc.p(), &atomic.Pointer[agent.Loop]{}, prometheus.NewRegistry(), g, "")
			if err == nil {
				shutdown(srv)
				t.Fatal("serve started")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "client-s3cret") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestDashPassHold: a step held for approval is pending, with its reason,
// so the pipeline view shows the gate's state and the Approve button.
func TestDashPassHold(t *testing.T) {
	res := &agent.Result{Plan: agent.Plan{Steps: []agent.Step{
		{App: "checkout", Env: "prod", From: "ppd", Action: agent.ActionHold, Candidate: ledger.Version{Tag: "1.1.0"},
			Reason: "awaiting approval: 0 of 1 (needs group:shop:product-owners)",
			Decision: &gate.Decision{AwaitingApproval: true, Approval: &gate.ApprovalStatus{Required: 2, Count: 1,
				By: []string{"carol (dashboard, group:shop:product-owners)"}, Missing: []string{"group:shop:product-owners"}}}},
		{App: "checkout", Env: "dev", From: "registry", Action: agent.ActionNone},
	}}}
	p := dashPass(&agent.PassRecord{Result: res})
	if len(p.Pending) != 1 || p.Pending[0].Action != "hold" || p.Pending[0].Candidate.Tag != "1.1.0" ||
		p.Pending[0].Reason != "awaiting approval: 0 of 1 (needs group:shop:product-owners)" {
		t.Fatalf("pending %+v", p.Pending)
	}
	// The count is the gate's: who counted, as the trailers will name them.
	if got := fmt.Sprintf("%+v", *p.Pending[0].Approvals); got != "{Required:2 Count:1 ApprovedBy:[carol (dashboard, group:shop:product-owners)] RejectedBy:[] Missing:[group:shop:product-owners]}" {
		t.Errorf("approvals %s", got)
	}
}
