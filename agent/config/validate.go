package config

import (
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/ferry-dev/ferry/internal/dnslabel"
	"github.com/ferry-dev/ferry/internal/text"
)

// tagName is the OCI distribution spec's tag grammar.
var tagName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// quote echoes a value from the file in an error, cut to 40 characters
// with its length when longer, so a 10,000-character value does not come
// back whole.
func quote(s string) string { return dnslabel.Quote(s) }

// ProviderKinds are the forges ferry opens pull requests on.
var ProviderKinds = []string{"gitea", "github", "gitlab"}

// Validate reports every problem of the pipeline at once (errors.Join of
// *Error), each located at source:line:col when the pipeline came from Parse.
func (p *Pipeline) Validate() error {
	// Every problem at once: fixing a config one error per run is slow.
	ps := newProblems(p.Source, p.pos)
	if p.APIVersion != APIVersion {
		ps.add("apiVersion", "%s is not supported; want %q", quote(p.APIVersion), APIVersion)
	}
	if p.Kind != Kind {
		ps.add("kind", "%s is not supported; want %q", quote(p.Kind), Kind)
	}
	p.validateGit(ps)
	if p.Policies != "" {
		// Read from the fleet repo at the reconciled commit: it must be in it.
		if _, msg := checkOverlay(p.Policies); msg != "" {
			ps.add("policies", "%s", msg)
		}
	}
	p.validateApps(ps)
	p.validateEnvironments(ps)
	p.validateApprovals(ps)
	p.validateSettings(ps)
	p.validateMetrics(ps)
	p.validateAnalyses(ps)
	p.validateNotifications(ps)
	p.validateDashboard(ps)
	return ps.Err()
}

func (p *Pipeline) validateGit(ps *problems) {
	if msg := checkGitURL(p.Git.URL); msg != "" {
		ps.add("git.url", "%s", msg)
	}
	if pr := p.Git.Provider; pr != nil {
		switch {
		case pr.Kind == "":
			ps.add("git.provider.kind", "required; one of %s", strings.Join(ProviderKinds, ", "))
		case !slices.Contains(ProviderKinds, pr.Kind):
			ps.add("git.provider.kind", "%s is not one of %s", quote(pr.Kind), strings.Join(ProviderKinds, ", "))
		}
		if pr.URL != "" {
			if msg := checkHTTPURL(pr.URL, "git.provider.tokenFile"); msg != "" {
				ps.add("git.provider.url", "%s", msg)
			}
		}
	}
	p.validateCommitSigning(ps)
}

// checkGitURL accepts http(s)://, ssh://, file://, scp-like user@host:path
// and local paths. Messages never repeat the URL: it may hold a secret.
func checkGitURL(raw string) string {
	if raw == "" {
		return "required (http(s)://, ssh://, git@host:path, file:// or a local path)"
	}
	if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "must not contain spaces or control characters"
	}
	if !strings.Contains(raw, "://") {
		return "" // scp-like (git@host:path) or a local path, both fine
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL" // url's error quotes the URL: leave it out
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		// Credentials in a URL end up in logs and errors; they belong in
		// files.
		if u.User != nil {
			return "must not carry credentials; use git.auth.usernameFile and git.auth.passwordFile"
		}
	case "ssh":
		if _, ok := u.User.Password(); ok {
			return "must not carry a password; use git.auth.sshKeyFile"
		}
	case "file":
		if u.Path == "" {
			return "file:// URL has no path"
		}
		return ""
	default:
		return fmt.Sprintf("scheme %s is not supported; use http(s)://, ssh://, git@host:path, file:// or a local path", quote(u.Scheme))
	}
	if u.Host == "" {
		return "has no host"
	}
	return ""
}

// checkHTTPURL checks an http(s) URL; secretKey names the key that
// holds the credentials a URL must not carry (they would reach logs).
func checkHTTPURL(raw, secretKey string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return "must be an http:// or https:// URL with a host"
	case u.User != nil:
		return "must not carry credentials (they would reach logs); use " + secretKey
	}
	return ""
}

func (p *Pipeline) validateApps(ps *problems) {
	seen := map[string]int{}
	images := map[string]int{} // repository -> first app on it
	for i, a := range p.Apps {
		base := indexPath("apps", i)
		checkName(ps, "apps", i, a.Name, seen)
		if msg := checkImage(a.Image); msg != "" {
			ps.add(joinPath(base, "image"), "%s", msg)
		} else {
			// An overlay has one images: entry per image: two apps on it
			// would each take the other's version for their own.
			repo := repository(a.Image)
			if j, dup := images[repo]; dup {
				ps.add(joinPath(base, "image"), "app %s: %s is the image of app %s too (%s); two apps on one image share one images: entry in every overlay, so one would promote the other's versions",
					quote(a.Name), quote(a.Image), quote(p.Apps[j].Name), ps.where(joinPath(indexPath("apps", j), "image")))
			} else {
				images[repo] = i
			}
		}
		checkTags(ps, joinPath(base, "tags"), a.Tags)
		checkEvidence(ps, joinPath(base, "evidence"), a.Evidence)
		if a.Verify != nil {
			checkTrust(ps, joinPath(base, "verify"), a.Verify)
		}
	}
}

// repository is the image's repository as a registry knows it, so that
// nginx and docker.io/library/nginx are one image. checkImage has accepted it.
func repository(image string) string {
	if r, err := name.NewRepository(image); err == nil {
		return r.Name()
	}
	return image
}

func checkEvidence(ps *problems, base string, e Evidence) {
	if t := e.Trivy; t != nil {
		tb := joinPath(base, "trivy")
		switch t.From {
		case "", TrivyFromReferrers:
		case TrivyFromURL:
			if t.URL == "" {
				ps.add(joinPath(tb, "url"), "required with from: url")
			}
		case TrivyFromFile:
			if t.File == "" {
				ps.add(joinPath(tb, "file"), "required with from: file")
			}
		default:
			ps.add(joinPath(tb, "from"), "%s is not one of %s, %s, %s", quote(t.From), TrivyFromReferrers, TrivyFromURL, TrivyFromFile)
		}
		// Parsed here, executed per candidate: a syntax error is refused at
		// load, not found at every pass.
		for _, f := range []struct{ key, tmpl string }{{"url", t.URL}, {"file", t.File}} {
			if _, err := template.New(f.key).Option("missingkey=error").Parse(f.tmpl); err != nil {
				ps.add(joinPath(tb, f.key), "template: %v", err)
			}
		}
		if t.MaxBytes < 0 {
			ps.add(joinPath(tb, "maxBytes"), "must be positive")
		}
	}
	if s := e.Sonar; s != nil {
		sb := joinPath(base, "sonar")
		// Only a URL is checked here; the sonar client refuses anything else at start.
		if s.URL == "" {
			ps.add(joinPath(sb, "url"), "required")
		} else if msg := checkHTTPURL(s.URL, joinPath(sb, "tokenFile")); msg != "" && strings.Contains(s.URL, "://") {
			ps.add(joinPath(sb, "url"), "%s", msg)
		}
		if s.ProjectKey == "" {
			ps.add(joinPath(sb, "projectKey"), "required")
		}
	}
}

// metricName is what a Rego policy can read as input.evidence.metrics.NAME;
// its length has the limit of the other names.
var metricName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *Pipeline) validateMetrics(ps *problems) {
	for i, env := range p.Environments {
		seen := map[string]bool{}
		for j, m := range env.Metrics {
			base := indexPath(joinPath(indexPath("environments", i), "metrics"), j)
			switch {
			case utf8.RuneCountInString(m.Name) > dnslabel.MaxLen:
				ps.add(joinPath(base, "name"), "%s is too long: a metric name is at most %d characters", quote(m.Name), dnslabel.MaxLen)
			case !metricName.MatchString(m.Name):
				ps.add(joinPath(base, "name"), "%s must be letters, digits and '_', at most %d characters (policies read input.evidence.metrics.NAME)", quote(m.Name), dnslabel.MaxLen)
			case seen[m.Name]:
				ps.add(joinPath(base, "name"), "%s is already a metric of this environment", quote(m.Name))
			}
			seen[m.Name] = true
			if strings.TrimSpace(m.Query) == "" {
				ps.add(joinPath(base, "query"), "required")
			} else if err := checkMetricQuery(m.Query); err != nil {
				ps.add(joinPath(base, "query"), "%v", err)
			}
			// Without a provider the gate would fail this env at every pass.
			if p.Providers.Prometheus == nil {
				ps.add(joinPath(base, "query"), "needs providers.prometheus.address")
			}
		}
	}
	if pr := p.Providers.Prometheus; pr != nil {
		if pr.Address == "" {
			ps.add("providers.prometheus.address", "required")
		} else if msg := checkHTTPURL(pr.Address, "providers.prometheus.bearerTokenFile"); msg != "" {
			ps.add("providers.prometheus.address", "%s", msg)
		}
	}
}

// metricSample has the variables a gate-metric query sees at each pass
// (agent/gate/evidence.go), with sample values.
var metricSample = map[string]string{"App": "app", "Env": "env", "From": "from", "Version": "1.0.0",
	"Digest": "sha256:" + strings.Repeat("0", 64)}

// checkMetricQuery renders a gate-metric query with sample values and
// parses the PromQL, as analysis queries are checked: a misspelt variable
// or bad PromQL is refused at load, not at every pass.
func checkMetricQuery(q string) error {
	tmpl, err := template.New("query").Option("missingkey=error").Parse(q)
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, metricSample); err != nil {
		return fmt.Errorf("template (variables are .App .Env .From .Version .Digest): %w", err)
	}
	rendered := strings.TrimSpace(b.String())
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(rendered); err != nil {
		return fmt.Errorf("PromQL %s: %w", text.Quote(rendered, 200), err)
	}
	return nil
}

// checkImage wants a repository only: the tag is what ferry chooses.
func checkImage(image string) string {
	if image == "" {
		return "required (a repository such as registry.example/shop/checkout)"
	}
	if strings.Contains(image, "@") {
		return fmt.Sprintf("%s must not carry a digest; tags decides the version", quote(image))
	}
	// A ':' after the last '/' is a tag; before it, a registry port.
	if strings.Contains(image[strings.LastIndexByte(image, '/')+1:], ":") {
		return fmt.Sprintf("%s must not carry a tag; tags decides the version", quote(image))
	}
	if _, err := name.NewRepository(image); err != nil {
		return fmt.Sprintf("%s is not a valid image repository: %v", quote(image), err)
	}
	return ""
}

func checkTags(ps *problems, base string, t TagPolicy) {
	var set []string
	for _, k := range []struct{ name, value string }{{"semver", t.Semver}, {"regex", t.Regex}, {"digest", t.Digest}} {
		if k.value != "" {
			set = append(set, k.name)
		}
	}
	// Exactly one: two selectors could disagree on the newest version.
	switch len(set) {
	case 0:
		ps.add(base, "set one of semver, regex or digest")
	case 1:
	default:
		ps.add(base, "set only one of semver, regex or digest (found %s)", strings.Join(set, " and "))
	}
	if t.Semver != "" {
		if _, err := semver.NewConstraint(t.Semver); err != nil {
			ps.add(joinPath(base, "semver"), "%s is not a semver constraint: %v", quote(t.Semver), err)
		}
	}
	if t.Regex != "" {
		if _, err := regexp.Compile(t.Regex); err != nil {
			ps.add(joinPath(base, "regex"), "%v", err)
		}
	}
	switch {
	case t.Order != "" && t.Regex == "":
		ps.add(joinPath(base, "order"), "only applies with regex")
	case t.Order != "" && t.Order != OrderNumerical && t.Order != OrderAlphabetical:
		ps.add(joinPath(base, "order"), "%s is not one of %s, %s", quote(t.Order), OrderNumerical, OrderAlphabetical)
	}
	if t.Digest != "" && !tagName.MatchString(t.Digest) {
		ps.add(joinPath(base, "digest"), "%s is not a valid tag to follow", quote(t.Digest))
	}
}

// validateSettings refuses negatives only: setDefaults ran first, so a
// zero was already replaced by its default.
func (p *Pipeline) validateSettings(ps *problems) {
	if p.Registry.RequestsPerSecond < 0 {
		ps.add("registry.requestsPerSecond", "must be positive")
	}
	if p.Webhooks.MaxBodyBytes < 0 {
		ps.add("webhooks.maxBodyBytes", "must be positive")
	}
	if p.Webhooks.MaxUnauthenticated < 0 {
		ps.add("webhooks.maxUnauthenticated", "must be positive")
	}
	for _, host := range slices.Sorted(maps.Keys(p.Registry.Auth)) {
		a := p.Registry.Auth[host]
		base := mapKeyPath("registry.auth", host)
		if a.UsernameFile == "" {
			ps.add(joinPath(base, "usernameFile"), "required")
		}
		if a.PasswordFile == "" {
			ps.add(joinPath(base, "passwordFile"), "required")
		}
	}
}

// checkName wants a unique DNS label: names end up in commit trailers,
// metric labels, branch names and Kubernetes names.
func checkName(ps *problems, list string, i int, name string, seen map[string]int) {
	at := joinPath(indexPath(list, i), "name")
	if name == "" {
		ps.add(at, "required")
	} else if msg := dnslabel.Check(name); msg != "" {
		ps.add(at, "%s", msg)
	}
	if j, dup := seen[name]; dup && name != "" {
		ps.add(at, "%s is already the name of %s[%d]", quote(name), list, j)
	} else {
		seen[name] = i
	}
}

// NotificationEvents are the kinds of event notifications.events may name.
var NotificationEvents = []string{"promotion", "denial", "pullRequestOpened", "rollback", "analysisFailed", "untrustedTag", "unverifiedCommit"}

func (p *Pipeline) validateNotifications(ps *problems) {
	n := p.Notifications
	if e := n.Email; e != nil {
		// A port is required: ferry does not guess between 25, 465 and 587.
		if _, port, err := net.SplitHostPort(e.SMTP); err != nil || port == "" {
			ps.add("notifications.email.smtp", "%s must be host:port", quote(e.SMTP))
		}
		if _, err := mail.ParseAddress(e.From); err != nil {
			ps.add("notifications.email.from", "%s is not an address: %v", quote(e.From), err)
		}
		if len(e.To) == 0 {
			ps.add("notifications.email.to", "required: at least one address")
		}
		for i, to := range e.To {
			if _, err := mail.ParseAddress(to); err != nil {
				ps.add(indexPath("notifications.email.to", i), "%s is not an address: %v", quote(to), err)
			}
		}
	}
	for i, w := range n.Webhooks {
		if msg := checkHTTPURL(w.URL, "tokenFile"); msg != "" {
			ps.add(joinPath(indexPath("notifications.webhooks", i), "url"), "%s", msg)
		}
	}
	if s := n.Slack; s != nil && s.URLFile == "" {
		ps.add("notifications.slack.urlFile", "required")
	}
	for i, ev := range n.Events {
		if !slices.Contains(NotificationEvents, ev) {
			ps.add(indexPath("notifications.events", i), "%s is not one of %s", quote(ev), strings.Join(NotificationEvents, ", "))
		}
	}
}
