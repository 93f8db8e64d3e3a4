package config

import (
	"strings"
	"time"
)

// Defaults filled in by Parse for fields left out of ferry.yaml. 50
// requests a second lets one registry host serve a minute's poll of 1,000
// apps (a tag list and a manifest each). 32 unauthenticated bodies of at
// most 1 MiB bound what strangers can make ferry hold to 32 MiB.
const (
	DefaultBranch             = "main"            // git.branch
	DefaultAuthorName         = "ferry"           // git.author.name
	DefaultAuthorEmail        = "ferry@localhost" // git.author.email
	DefaultGitInterval        = time.Minute       // git.interval: between reconcile passes
	DefaultGitTimeout         = 30 * time.Second  // git.timeout: one network operation
	DefaultRegistryInterval   = time.Minute       // registry.interval: between tag polls
	DefaultRequestsPerSecond  = 50                // registry.requestsPerSecond, per host
	DefaultMaxBodyBytes       = 1 << 20           // webhooks.maxBodyBytes (1 MiB)
	DefaultBodyTimeout        = 10 * time.Second  // webhooks.bodyTimeout
	DefaultMaxUnauthenticated = 32                // webhooks.maxUnauthenticated
	DefaultTagOrder           = OrderNumerical    // tags.order, when tags.regex is set
	DefaultPolicies           = "policies/"       // policies: directory in the fleet repo
)

// Environment tiers: the role an environment plays, which the default
// policies gate on, so renaming an environment keeps its gate.
const (
	TierDevelopment = "development"
	TierTest        = "test"
	TierStaging     = "staging"
	TierProduction  = "production"
	TierDR          = "dr"
)

// Tiers lists the tiers in pipeline order.
var Tiers = []string{TierDevelopment, TierTest, TierStaging, TierProduction, TierDR}

// tierNames are the common environment names and the tier each implies.
var tierNames = map[string]string{
	"dev": TierDevelopment, "develop": TierDevelopment, "development": TierDevelopment, "sandbox": TierDevelopment,
	"qa": TierTest, "test": TierTest, "testing": TierTest, "sit": TierTest, "int": TierTest, "integration": TierTest,
	"ppd": TierStaging, "staging": TierStaging, "stage": TierStaging, "stg": TierStaging, "preprod": TierStaging, "pre-prod": TierStaging, "uat": TierStaging,
	"prod": TierProduction, "production": TierProduction, "prd": TierProduction, "live": TierProduction,
	"dr": TierDR, "disaster-recovery": TierDR,
}

// TierFor is the tier an environment has when ferry.yaml names none: the
// one its common name implies, dr for any other mirror, else none (and
// the default policies do not gate it: ferry warns).
func TierFor(e Environment) string {
	if e.Tier != "" {
		return e.Tier
	}
	if t, ok := tierNames[strings.ToLower(e.Name)]; ok {
		return t
	}
	if e.Mirror != "" {
		return TierDR
	}
	return ""
}

// Tag orders for a regex tag policy.
const (
	OrderNumerical    = "numerical"
	OrderAlphabetical = "alphabetical"
)

// setDefaults fills every field left empty with its Default* value (an
// explicit zero too: none of these has a meaningful zero). Each
// author field is filled on its own, so naming only the email keeps it.
// An app's interval defaults to registry.interval.
func (p *Pipeline) setDefaults() {
	g := &p.Git
	if g.Branch == "" {
		g.Branch = DefaultBranch
	}
	if g.Author.Name == "" {
		g.Author.Name = DefaultAuthorName
	}
	if g.Author.Email == "" {
		g.Author.Email = DefaultAuthorEmail
	}
	if g.Interval == 0 {
		g.Interval = Duration(DefaultGitInterval)
	}
	if g.Timeout == 0 {
		g.Timeout = Duration(DefaultGitTimeout)
	}
	if p.Registry.Interval == 0 {
		p.Registry.Interval = Duration(DefaultRegistryInterval)
	}
	if p.Registry.RequestsPerSecond == 0 {
		p.Registry.RequestsPerSecond = DefaultRequestsPerSecond
	}
	if p.Webhooks.MaxBodyBytes == 0 {
		p.Webhooks.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if p.Webhooks.BodyTimeout == 0 {
		p.Webhooks.BodyTimeout = Duration(DefaultBodyTimeout)
	}
	if p.Webhooks.MaxUnauthenticated == 0 {
		p.Webhooks.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	if p.Policies == "" {
		p.Policies = DefaultPolicies
	}
	for i := range p.Environments {
		p.Environments[i].Tier = TierFor(p.Environments[i])
	}
	for i := range p.Apps {
		if p.Apps[i].Interval == 0 {
			p.Apps[i].Interval = p.Registry.Interval
		}
		// Numerical by default: build numbers sort wrong as text (main-10
		// before main-9).
		if t := &p.Apps[i].Tags; t.Regex != "" && t.Order == "" {
			t.Order = DefaultTagOrder
		}
	}
}
