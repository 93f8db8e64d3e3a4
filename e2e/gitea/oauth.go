package gitea

import (
	"context"
	"testing"

	"code.gitea.io/sdk/gitea"
)

// Option changes how Start configures Gitea.
type Option func(*options)

type options struct {
	oauth2 bool
}

// WithOAuth2 turns on Gitea's OAuth2 provider, which is also an OpenID
// Connect issuer (discovery at ROOT_URL/.well-known/openid-configuration,
// RS256 ID tokens, the groups claim: ORG and ORG:TEAM).
func WithOAuth2() Option { return func(o *options) { o.oauth2 = true } }

// Issuer is the OpenID Connect issuer: ROOT_URL without its trailing
// slash (as Gitea 1.26's discovery document names it).
func (s *Server) Issuer() string { return s.url }

// AddPerson creates a user who signs in with password (AddUser's users
// never do).
func (s *Server) AddPerson(t testing.TB, name, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	no := false
	if _, _, err := s.Client(ctx).AdminCreateUser(gitea.CreateUserOption{
		Username: name, Email: name + "@example.com", Password: password, MustChangePassword: &no,
	}); err != nil {
		t.Fatalf("gitea: create user %s: %v", name, err)
	}
}

// CreateOAuth2App registers a confidential OAuth2 application of User
// redirecting to redirectURI, and returns its client ID and secret.
func (s *Server) CreateOAuth2App(t testing.TB, name, redirectURI string) (clientID, secret string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	app, _, err := s.Client(ctx).CreateOauth2(gitea.CreateOauth2Option{Name: name, ConfidentialClient: true, RedirectURIs: []string{redirectURI}})
	if err != nil {
		t.Fatalf("gitea: create OAuth2 application %s: %v", name, err)
	}
	return app.ClientID, app.ClientSecret
}
