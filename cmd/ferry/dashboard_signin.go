package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/dashboard"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// oidcTimeout bounds the issuer's discovery at start and each call to the
// provider after (code exchange, keys).
const oidcTimeout = 15 * time.Second

// minSessionKey: a shorter key would make session cookies guessable.
const minSessionKey = 32

// dashSignIn builds the dashboard's sign-in from dashboard: in ferry.yaml:
// the client secret and session key read from their files, the issuer
// discovered now (an unreachable issuer stops the start, naming it).
func dashSignIn(ctx context.Context, p *config.Pipeline) (*dashboard.SignIn, error) {
	d := p.Dashboard
	o := d.OIDC
	secret, err := config.ReadSecret(o.ClientSecretFile)
	if err != nil {
		return nil, fmt.Errorf("dashboard.oidc.clientSecretFile: %w", err)
	}
	var key []byte
	if d.SessionKeyFile != "" {
		k, err := config.ReadSecret(d.SessionKeyFile)
		if err != nil {
			return nil, fmt.Errorf("dashboard.sessionKeyFile: %w", err)
		}
		if len(k) < minSessionKey {
			return nil, fmt.Errorf("dashboard.sessionKeyFile %s: the key has %d bytes; use at least %d (e.g. openssl rand -base64 48)", d.SessionKeyFile, len(k), minSessionKey)
		}
		key = []byte(k)
	}
	dctx, cancel := context.WithTimeout(ctx, oidcTimeout)
	defer cancel()
	si, err := dashboard.NewSignIn(dctx, dashboard.SignInConfig{
		Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
		SessionKey: key, Roles: d.Roles, HTTPClient: &http.Client{Timeout: oidcTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: dashboard.oidc: %w", p.Source, err)
	}
	return si, nil
}

// dashActions hands the dashboard's actions to the running loop's agent
// (after a reload of ferry.yaml, the new one).
type dashActions struct{ loop func() *agent.Loop }

var _ dashboard.Actions = dashActions{}

func (d dashActions) agent() (*agent.Agent, error) {
	l := d.loop()
	if l == nil {
		return nil, dashboard.ErrStarting
	}
	return l.Agent(), nil
}

func (d dashActions) Approve(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.Approve(ctx, app, version, env, by, groups, reason)
}

func (d dashActions) Reject(ctx context.Context, app, version, env string, by ledger.Actor, groups []string, reason string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.Reject(ctx, app, version, env, by, groups, reason)
}

func (d dashActions) Promote(ctx context.Context, app, version, env string, by ledger.Actor, reason string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.Promote(ctx, app, version, env, by, reason)
}

func (d dashActions) Rollback(ctx context.Context, app, env, to string, by ledger.Actor, reason string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.Rollback(ctx, app, env, to, by, reason)
}

func (d dashActions) Abort(ctx context.Context, app, env string, by ledger.Actor, reason string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.Abort(ctx, app, env, by, reason)
}

func (d dashActions) RetryAnalysis(ctx context.Context, app, env string) (string, error) {
	a, err := d.agent()
	if err != nil {
		return "", err
	}
	return a.RetryAnalysis(ctx, app, env)
}
