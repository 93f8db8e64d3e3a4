package config

import (
	"net/url"
	"slices"
	"strings"
)

func (p *Pipeline) validateDashboard(ps *problems) {
	d := p.Dashboard
	if d.OIDC == nil {
		// Roles and a session key without sign-in would be promises the
		// read-only dashboard does not keep.
		if len(d.Roles) > 0 {
			ps.add("dashboard.roles", "needs dashboard.oidc: without sign-in the dashboard is read-only")
		}
		if d.SessionKeyFile != "" {
			ps.add("dashboard.sessionKeyFile", "needs dashboard.oidc: without sign-in there are no sessions")
		}
		return
	}
	o := d.OIDC
	if msg := checkHTTPURL(o.Issuer, "dashboard.oidc.clientSecretFile"); o.Issuer == "" {
		ps.add("dashboard.oidc.issuer", "required")
	} else if msg != "" {
		ps.add("dashboard.oidc.issuer", "%s %s", quote(o.Issuer), msg)
	}
	if strings.TrimSpace(o.ClientID) == "" {
		ps.add("dashboard.oidc.clientID", "required")
	}
	if o.ClientSecretFile == "" {
		ps.add("dashboard.oidc.clientSecretFile", "required: the file holding the OAuth2 client secret")
	}
	if o.RedirectURL == "" {
		ps.add("dashboard.oidc.redirectURL", "required: the dashboard's /callback URL as the provider knows it")
	} else if msg := checkHTTPURL(o.RedirectURL, "dashboard.oidc.clientSecretFile"); msg != "" {
		ps.add("dashboard.oidc.redirectURL", "%s %s", quote(o.RedirectURL), msg)
	} else if u, _ := url.Parse(o.RedirectURL); u.Path != "/callback" {
		// The dashboard serves the callback at /callback only.
		ps.add("dashboard.oidc.redirectURL", "%s must end in /callback (the dashboard's path)", quote(o.RedirectURL))
	}
	for i, r := range d.Roles {
		base := indexPath("dashboard.roles", i)
		if (r.Group == "") == (r.User == "") {
			ps.add(base, "needs exactly one of group or user")
		}
		// Names are compared exactly with the ID token's: " shop" would
		// silently grant nothing.
		for _, f := range []struct{ key, v string }{{"group", r.Group}, {"user", r.User}} {
			if f.v != "" && strings.TrimSpace(f.v) != f.v {
				ps.add(joinPath(base, f.key), "%s has spaces around it: the name is compared exactly with the sign-in's", quote(f.v))
			}
		}
		if !slices.Contains(DashboardRoles, r.Role) {
			ps.add(joinPath(base, "role"), "%s is not one of %s", quote(r.Role), strings.Join(DashboardRoles, ", "))
		}
		for j, e := range r.Envs {
			if _, ok := p.Env(e); !ok {
				ps.add(indexPath(joinPath(base, "envs"), j), "%s is not an environment of this pipeline", quote(e))
			}
		}
	}
}
