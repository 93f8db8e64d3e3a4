// Package config reads and validates ferry.yaml, the pipeline contract (docs/config.md).
package config

import (
	"fmt"
	"strings"
	"time"
)

// APIVersion and Kind identify a ferry pipeline document.
const (
	APIVersion = "ferry.dev/v1alpha1"
	Kind       = "Pipeline"
)

// Pipeline is the whole of ferry.yaml.
type Pipeline struct {
	APIVersion   string        `yaml:"apiVersion"`
	Kind         string        `yaml:"kind"`
	Git          Git           `yaml:"git"`
	Apps         []App         `yaml:"apps"`
	Environments []Environment `yaml:"environments"`
	Policies     string        `yaml:"policies,omitempty"`
	// PolicyTimeout bounds one policy decision; default 2s. A decision that
	// does not finish in time is a denial (fail closed).
	PolicyTimeout Duration  `yaml:"policyTimeout,omitempty"`
	Webhooks      Webhooks  `yaml:"webhooks,omitempty"`
	Registry      Registry  `yaml:"registry,omitempty"`
	Providers     Providers `yaml:"providers,omitempty"`
	// Analyses are metric analysis templates, named by an environment's
	// analysis or canary.analysis.
	Analyses      map[string]AnalysisTemplate `yaml:"analyses,omitempty"`
	Rollback      Rollback                    `yaml:"rollback,omitempty"`
	Notifications Notifications               `yaml:"notifications,omitempty"`
	// Dashboard is the dashboard's sign-in and who may act there; without
	// dashboard.oidc the dashboard is read-only (token mode).
	Dashboard Dashboard `yaml:"dashboard,omitempty"`

	// Source names where this pipeline was read from (a file path, or
	// "<git url>@<commit>:ferry.yaml"); set by the loader, never decoded.
	Source string `yaml:"-"`

	// pos remembers where each YAML path was written so Validate can name
	// line:col; set by Parse, nil for a Pipeline built in code.
	pos positions
}

// Git says where the fleet repo is and how ferry writes to it.
type Git struct {
	URL      string    `yaml:"url"`
	Branch   string    `yaml:"branch,omitempty"` // default main
	Author   Author    `yaml:"author,omitempty"`
	Auth     GitAuth   `yaml:"auth,omitempty"`
	Provider *Provider `yaml:"provider,omitempty"`
	// Interval between full reconcile passes of `ferry run`; default 1m.
	Interval Duration `yaml:"interval,omitempty"`
	// Timeout for one git network operation; default 30s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Signing signs every commit ferry writes; nil: unsigned.
	Signing *Signing `yaml:"signing,omitempty"`
	// VerifyCommits checks the commits that set versions against signers
	// kept in the fleet repo; nil: off.
	VerifyCommits *VerifyCommits `yaml:"verifyCommits,omitempty"`
}

// Signing names ferry's commit-signing key: exactly one of an SSH key
// file or an armored OpenPGP key file, with a passphrase file when the key
// is encrypted.
type Signing struct {
	SSHKeyFile     string `yaml:"sshKeyFile,omitempty"`
	OpenPGPKeyFile string `yaml:"openpgpKeyFile,omitempty"`
	PassphraseFile string `yaml:"passphraseFile,omitempty"`
}

// VerifyCommits is how the commits that set an overlay's version are
// checked: mode require, warn or off, against an allowed-signers file
// and/or an armored OpenPGP keyring, both paths inside the fleet repo.
type VerifyCommits struct {
	Mode           string `yaml:"mode,omitempty"` // default off
	AllowedSigners string `yaml:"allowedSigners,omitempty"`
	Keyring        string `yaml:"keyring,omitempty"`
}

// VerifyCommitsModes are the values of git.verifyCommits.mode.
var VerifyCommitsModes = []string{"off", "warn", "require"}

// DefaultVerifyCommitsMode is git.verifyCommits.mode when unset.
const DefaultVerifyCommitsMode = "off"

// CommitVerification is the git.verifyCommits block with its default
// mode filled in; the zero block is off.
func (g Git) CommitVerification() VerifyCommits {
	v := VerifyCommits{Mode: DefaultVerifyCommitsMode}
	if g.VerifyCommits != nil {
		v = *g.VerifyCommits
		if v.Mode == "" {
			v.Mode = DefaultVerifyCommitsMode
		}
	}
	return v
}

// Author signs ferry's commits; default ferry <ferry@localhost>.
type Author struct {
	Name  string `yaml:"name"`
	Email string `yaml:"email"`
}

// GitAuth names files holding credentials; secrets never live in ferry.yaml.
type GitAuth struct {
	UsernameFile   string `yaml:"usernameFile,omitempty"`
	PasswordFile   string `yaml:"passwordFile,omitempty"` // password or token
	SSHKeyFile     string `yaml:"sshKeyFile,omitempty"`
	KnownHostsFile string `yaml:"knownHostsFile,omitempty"`
}

// Provider is the pull-request API of the fleet repo's forge.
type Provider struct {
	Kind      string `yaml:"kind"` // gitea, github, gitlab
	URL       string `yaml:"url,omitempty"`
	TokenFile string `yaml:"tokenFile,omitempty"`
}

// App is one container image repository promoted through the environments.
type App struct {
	Name     string    `yaml:"name"`
	Image    string    `yaml:"image"`
	Tags     TagPolicy `yaml:"tags"`
	Insecure bool      `yaml:"insecure,omitempty"` // plain HTTP to a non-loopback registry
	// Interval between registry polls for this app; default registry.interval.
	Interval Duration `yaml:"interval,omitempty"`
	Evidence Evidence `yaml:"evidence,omitempty"`
	// Verify says what the app's images must carry to be trusted: a tag
	// without a verified signature is never a candidate. nil: not verified.
	Verify *ImageTrust `yaml:"verify,omitempty"`
}

// ImageTrust is an app's supply-chain trust: the signatures a candidate
// must carry (any one verified signature trusts it) and whose signed
// attestations reach the policies.
type ImageTrust struct {
	Cosign   *CosignTrust   `yaml:"cosign,omitempty"`
	Notation *NotationTrust `yaml:"notation,omitempty"`
	// Builders are the SLSA provenance builder ids the default policies
	// accept (input.app.verify.builders).
	Builders []string `yaml:"builders,omitempty"`
}

// CosignTrust verifies cosign signatures and attestations: sigstore
// bundles (OCI referrers) and cosign's older .sig/.att tags, offline.
type CosignTrust struct {
	// Keys are public keys: PEM files, or Kubernetes Secret manifests
	// holding cosign.pub. A signature by any one of them verifies.
	Keys []string `yaml:"keys,omitempty"`
	// TrustedRoot is a sigstore trusted_root.json (a private Fulcio, TSA
	// and Rekor) that keyless certificates must chain to.
	TrustedRoot string `yaml:"trustedRoot,omitempty"`
	// Identities are the keyless signers accepted; required with TrustedRoot.
	Identities []SignerIdentity `yaml:"identities,omitempty"`
}

// SignerIdentity is a keyless signer: its certificate's OIDC issuer and
// subject (SAN), each exact or a regular expression.
type SignerIdentity struct {
	Issuer        string `yaml:"issuer,omitempty"`
	IssuerRegExp  string `yaml:"issuerRegExp,omitempty"`
	Subject       string `yaml:"subject,omitempty"`
	SubjectRegExp string `yaml:"subjectRegExp,omitempty"`
}

// NotationTrust verifies Notary Project signatures with notation's own
// trust policy and trust store formats.
type NotationTrust struct {
	TrustPolicy string `yaml:"trustPolicy"` // trustpolicy.json
	TrustStore  string `yaml:"trustStore"`  // directory: x509/{ca,signingAuthority,tsa}/NAME/*.pem
}

// Evidence says where the facts about an app's candidates come from.
type Evidence struct {
	Trivy *TrivyEvidence `yaml:"trivy,omitempty"`
	Sonar *SonarEvidence `yaml:"sonar,omitempty"`
}

// Trivy report sources.
const (
	TrivyFromReferrers = "referrers" // an OCI referrer of the candidate's digest
	TrivyFromURL       = "url"       // GET a URL template
	TrivyFromFile      = "file"      // a file of the fleet repo, by path template
)

// TrivyEvidence finds a candidate's Trivy report (JSON or SARIF).
type TrivyEvidence struct {
	From string `yaml:"from,omitempty"` // referrers (default), url or file
	// URL and File are Go templates over .App .Image .Tag .Digest .Version.
	URL      string   `yaml:"url,omitempty"`
	File     string   `yaml:"file,omitempty"`
	MaxBytes int64    `yaml:"maxBytes,omitempty"` // default 16 MiB
	Timeout  Duration `yaml:"timeout,omitempty"`  // default 10s
}

// SonarEvidence reads the SonarQube quality gate of the image's source revision.
type SonarEvidence struct {
	URL        string   `yaml:"url"`
	ProjectKey string   `yaml:"projectKey"`
	TokenFile  string   `yaml:"tokenFile,omitempty"`
	Timeout    Duration `yaml:"timeout,omitempty"` // default 10s
}

// Providers are the metric back-ends ferry queries.
type Providers struct {
	Prometheus *PrometheusProvider `yaml:"prometheus,omitempty"`
}

// PrometheusProvider is a Prometheus HTTP API.
type PrometheusProvider struct {
	Address            string   `yaml:"address"`
	BearerTokenFile    string   `yaml:"bearerTokenFile,omitempty"`
	InsecureSkipVerify bool     `yaml:"insecureSkipVerify,omitempty"`
	Timeout            Duration `yaml:"timeout,omitempty"` // per query; default 10s
}

// MetricQuery is an instant Prometheus query whose value a gate sees as
// input.evidence.metrics[Name]. Query is a Go template over .App .Env .From
// .Version .Digest.
type MetricQuery struct {
	Name  string `yaml:"name"`
	Query string `yaml:"query"`
}

// TagPolicy chooses the newest allowed tag. Exactly one of Semver, Regex or
// Digest is set.
type TagPolicy struct {
	// Semver is a Masterminds/semver constraint such as ">=1.0.0"; pre-releases
	// are excluded unless the constraint names one.
	Semver string `yaml:"semver,omitempty"`
	// Regex selects tags; its named capture (or first group, or whole match)
	// is ordered by Order.
	Regex string `yaml:"regex,omitempty"`
	Order string `yaml:"order,omitempty"` // numerical (default) or alphabetical
	// Digest follows one moving tag (main, latest): a new digest is a new candidate.
	Digest string `yaml:"digest,omitempty"`
}

// Environment is one overlay and how versions reach it.
type Environment struct {
	Name        string   `yaml:"name"`
	Overlay     string   `yaml:"overlay"`
	From        string   `yaml:"from,omitempty"`
	Auto        bool     `yaml:"auto,omitempty"`
	PullRequest bool     `yaml:"pullRequest,omitempty"`
	Mirror      string   `yaml:"mirror,omitempty"`
	Soak        Duration `yaml:"soak,omitempty"`
	// Tier is the environment's role (development, test, staging,
	// production, dr), which the default policies key on instead of its
	// name; defaulted from the common names (TierFor).
	Tier string `yaml:"tier,omitempty"`
	// Metrics are instant queries gathered as evidence for this env's gate.
	Metrics []MetricQuery `yaml:"metrics,omitempty"`
	// Analysis names the analyses: template that verifies each new version
	// once the environment serves it.
	Analysis string `yaml:"analysis,omitempty"`
	// Canary delivers a new version progressively, each step a commit.
	Canary *Canary `yaml:"canary,omitempty"`
	// Verify says how ferry knows the environment serves a version.
	Verify *Verify `yaml:"verify,omitempty"`
	// Cluster is where the environment runs, for verification with client-go.
	Cluster *Cluster `yaml:"cluster,omitempty"`
	// Approval is the sign-off a version needs before it reaches this
	// environment; nil: none.
	Approval *Approval `yaml:"approval,omitempty"`
}

// Approval is an environment's sign-off: how many people must approve a
// version, who may (from), whether the requester's own vote counts, and how
// long a vote stays valid.
type Approval struct {
	Required int `yaml:"required"`
	// From are the people whose votes count: user:LOGIN, team:NAME (or
	// team:ORG/NAME) on the forge, group:NAME (an OIDC group claim the
	// dashboard saw). Empty: anyone.
	From []string `yaml:"from,omitempty"`
	// ForbidSelf: the requester's own vote (the pull request's author, the
	// person of a manual promotion) does not count.
	ForbidSelf bool `yaml:"forbidSelf,omitempty"`
	// Expires is how long a vote counts after it was cast; 0: forever.
	Expires Duration `yaml:"expires,omitempty"`
}

// Approver kinds of approval.from entries, written KIND:NAME.
const (
	ApproverUser  = "user"
	ApproverTeam  = "team"
	ApproverGroup = "group"
)

// ParseApprover splits an approval.from entry into its kind and name; ok
// is false for an unknown kind or an empty name.
func ParseApprover(entry string) (kind, name string, ok bool) {
	kind, name, found := strings.Cut(entry, ":")
	if !found || name == "" || strings.TrimSpace(name) != name {
		return kind, name, false
	}
	switch kind {
	case ApproverUser, ApproverTeam, ApproverGroup:
		return kind, name, true
	}
	return kind, name, false
}

// Webhooks authenticates inbound webhook calls and bounds what they cost.
type Webhooks struct {
	TokenFile string `yaml:"tokenFile,omitempty"` // or FERRY_WEBHOOK_TOKEN
	// MaxBodyBytes caps a webhook body; default 1 MiB.
	MaxBodyBytes int64 `yaml:"maxBodyBytes,omitempty"`
	// BodyTimeout is the deadline to receive a body once its headers are
	// in; default 10s. A slower client gets 408.
	BodyTimeout Duration `yaml:"bodyTimeout,omitempty"`
	// MaxUnauthenticated caps the signed calls whose bodies are read at
	// once, before the signature can be checked; default 32. Past it they
	// get 503 with Retry-After; bearer-token calls are never held back.
	MaxUnauthenticated int `yaml:"maxUnauthenticated,omitempty"`
}

// Registry holds settings shared by every registry ferry polls.
type Registry struct {
	Interval Duration `yaml:"interval,omitempty"` // default 1m
	// RequestsPerSecond per registry host; default 50 (DefaultRequestsPerSecond).
	RequestsPerSecond float64 `yaml:"requestsPerSecond,omitempty"`
	// DockerConfig is a Docker config.json with credentials per registry host.
	DockerConfig string                  `yaml:"dockerConfig,omitempty"`
	Auth         map[string]RegistryAuth `yaml:"auth,omitempty"` // by host
	// Timeout bounds one registry request, its body included; default 30s.
	Timeout Duration `yaml:"timeout,omitempty"`
	// LookupTimeout bounds one app's look-up (every tag page and the
	// digest); default 2m.
	LookupTimeout Duration `yaml:"lookupTimeout,omitempty"`
	// MaxBodyBytes caps one registry answer (a tag page, a manifest);
	// default 4 MiB. MaxTagListBytes caps all pages of one tag listing;
	// default 16 MiB.
	MaxBodyBytes    int64 `yaml:"maxBodyBytes,omitempty"`
	MaxTagListBytes int64 `yaml:"maxTagListBytes,omitempty"`
	// Patience is how long a pass waits for a slow registry before going on
	// without the apps on it (they get a pass of their own when it
	// answers); default 2s.
	Patience Duration `yaml:"patience,omitempty"`
}

// RegistryAuth is HTTP basic auth for one registry host, read from files.
type RegistryAuth struct {
	UsernameFile string `yaml:"usernameFile"`
	PasswordFile string `yaml:"passwordFile"`
}

// Duration is a time.Duration written as "10s", "1h".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", b, err)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Rollback says which alerts roll an environment back, and how.
type Rollback struct {
	// Labels name the alert labels that carry the app and the environment;
	// default app and env.
	Labels RollbackLabels `yaml:"labels,omitempty"`
	// Match narrows the alerts that roll back: label equality, e.g.
	// {severity: critical}. Empty: every firing alert that maps to an app and env.
	Match map[string]string `yaml:"match,omitempty"`
	// FreezeUntilResolved freezes the environment after a rollback until
	// the alert resolves.
	FreezeUntilResolved bool `yaml:"freezeUntilResolved,omitempty"`
	// PullRequest rolls pull-request environments back by pull request
	// instead of a direct (emergency) commit.
	PullRequest bool `yaml:"pullRequest,omitempty"`
}

// RollbackLabels are the alert label names that map an alert to an app and env.
type RollbackLabels struct {
	App string `yaml:"app,omitempty"`
	Env string `yaml:"env,omitempty"`
}

// Notifications says who hears about promotions, denials, pull requests,
// rollbacks and failed analyses.
type Notifications struct {
	Email    *EmailNotification    `yaml:"email,omitempty"`
	Webhooks []WebhookNotification `yaml:"webhooks,omitempty"`
	Slack    *SlackNotification    `yaml:"slack,omitempty"`
	// Events limits what is sent: promotion, denial, pullRequestOpened,
	// rollback, analysisFailed, untrustedTag, unverifiedCommit. Empty: all
	// of them.
	Events []string `yaml:"events,omitempty"`
}

// EmailNotification sends mail over SMTP.
type EmailNotification struct {
	SMTP         string   `yaml:"smtp"` // host:port
	From         string   `yaml:"from"`
	To           []string `yaml:"to"`
	UsernameFile string   `yaml:"usernameFile,omitempty"`
	PasswordFile string   `yaml:"passwordFile,omitempty"`
	// Subject and Body override the default text/template of each message.
	Subject string `yaml:"subject,omitempty"`
	Body    string `yaml:"body,omitempty"`
}

// WebhookNotification POSTs each event as JSON.
type WebhookNotification struct {
	URL        string `yaml:"url"`
	TokenFile  string `yaml:"tokenFile,omitempty"`  // sent as a bearer token
	SecretFile string `yaml:"secretFile,omitempty"` // signs the body: X-Ferry-Signature
}

// SlackNotification POSTs Slack-compatible messages to an incoming webhook.
type SlackNotification struct {
	URLFile string `yaml:"urlFile"` // the webhook URL is a secret
	// Subject and Body override the default text/template of each message.
	Subject string `yaml:"subject,omitempty"`
	Body    string `yaml:"body,omitempty"`
}

// Dashboard configures sign-in with OpenID Connect and the roles people get
// per environment. Without OIDC the dashboard only reads.
type Dashboard struct {
	OIDC *OIDC `yaml:"oidc,omitempty"`
	// SessionKeyFile holds the key that signs session cookies; "" means a
	// random key per process (every session ends at a restart).
	SessionKeyFile string          `yaml:"sessionKeyFile,omitempty"`
	Roles          []DashboardRole `yaml:"roles,omitempty"`
}

// OIDC is the OpenID Connect provider the dashboard signs people in with.
type OIDC struct {
	Issuer           string `yaml:"issuer"`
	ClientID         string `yaml:"clientID"`
	ClientSecretFile string `yaml:"clientSecretFile"`
	RedirectURL      string `yaml:"redirectURL"`
}

// DashboardRole grants Role in Envs (empty: all) to everyone in Group (an
// OIDC groups claim value) or to User (the signed-in name).
type DashboardRole struct {
	Group string   `yaml:"group,omitempty"`
	User  string   `yaml:"user,omitempty"`
	Role  string   `yaml:"role"`
	Envs  []string `yaml:"envs,omitempty"`
}

// Dashboard roles: a viewer sees; a promoter also promotes, rolls back,
// aborts and retries analyses; an approver also approves and rejects. They
// are separate duties: an approver is not a promoter unless named one too.
const (
	RoleViewer   = "viewer"
	RolePromoter = "promoter"
	RoleApprover = "approver"
)

// DashboardRoles are the roles dashboard.roles may name.
var DashboardRoles = []string{RoleViewer, RolePromoter, RoleApprover}
