package docs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/canary"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/agent/notify"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/analysis"
	"github.com/ferry-dev/ferry/analysis/prometheus"
	"github.com/ferry-dev/ferry/overlays"
	"github.com/ferry-dev/ferry/policies"
)

// row is one key of a reference table: | `path` | type | default | meaning |.
type row struct {
	path, typ, def string
	line           int
}

var rowRE = regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+?) \\| ([^|]+?) \\|")

// tableRows reads the reference tables of a page.
func tableRows(t *testing.T, page string) []row {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var rows []row
	for i, l := range strings.Split(string(data), "\n") {
		if m := rowRE.FindStringSubmatch(l); m != nil {
			rows = append(rows, row{path: m[1], typ: m[2], def: m[3], line: i + 1})
		}
	}
	return rows
}

var placeholder = regexp.MustCompile(`<[^>]+>`)

// TestConfigReferenceKeys: docs/config.md names every key of ferry.yaml,
// with the type the decoder reads, and no key that does not exist.
func TestConfigReferenceKeys(t *testing.T) {
	if n := checkDocumented(t, "config.md", configKeys(), "a ferry.yaml key"); n < 100 {
		t.Fatalf("read %d rows from config.md; the table format changed", n)
	}
}

// checkDocumented compares page's table with the real keys: each is
// documented once with its type, and the page names nothing else (what
// says what the real ones are, for the message). It returns the rows read.
func checkDocumented(t *testing.T, page string, keys []key, what string) int {
	t.Helper()
	rows := tableRows(t, page)
	doc := map[string]row{}
	for _, r := range rows {
		p := placeholder.ReplaceAllString(r.path, "<name>")
		if _, dup := doc[p]; dup {
			t.Errorf("%s:%d: %s is documented twice", page, r.line, r.path)
		}
		doc[p] = r
	}
	real := map[string]bool{}
	for _, k := range keys {
		real[k.path] = true
		r, ok := doc[k.path]
		if !ok {
			t.Errorf("%s does not document %s (%s)", page, k.path, k.typ)
			continue
		}
		if r.typ != k.typ {
			t.Errorf("%s:%d: %s is a %s, the page says %s", page, r.line, k.path, k.typ, r.typ)
		}
	}
	for p, r := range doc {
		if !real[p] {
			t.Errorf("%s:%d: %s is not %s", page, r.line, r.path, what)
		}
	}
	return len(rows)
}

// TestConfigReferenceDefaults: every default the page shows is the one
// the code applies, taken from the defaulting code itself (the Default
// constants, the analysis compiler, the canary planner, the source of an
// unexported constant), and every key with a default shows it.
func TestConfigReferenceDefaults(t *testing.T) {
	want := map[string]string{
		"git.branch":             config.DefaultBranch,
		"git.author.name":        config.DefaultAuthorName,
		"git.author.email":       config.DefaultAuthorEmail,
		"git.interval":           dur(config.DefaultGitInterval),
		"git.timeout":            dur(config.DefaultGitTimeout),
		"git.verifyCommits.mode": config.DefaultVerifyCommitsMode,
		"policies":               config.DefaultPolicies,
		"policyTimeout":          dur(policies.DefaultDecisionTimeout),

		"apps[].tags.order":                      config.DefaultTagOrder,
		"apps[].interval":                        "registry.interval",
		"apps[].evidence.trivy.from":             config.TrivyFromReferrers,
		"apps[].evidence.trivy.maxBytes":         size(sourceConst(t, "../agent/gate/evidence.go", "defaultReportBytes")),
		"apps[].evidence.trivy.timeout":          dur(time.Duration(sourceConst(t, "../agent/gate/evidence.go", "defaultEvidenceTimeout"))),
		"apps[].evidence.sonar.timeout":          dur(time.Duration(sourceConst(t, "../agent/gate/evidence.go", "defaultEvidenceTimeout"))),
		"environments[].verify.timeout":          dur(config.DefaultVerifyTimeout),
		"environments[].canary.strategy":         config.StrategyCanary,
		"environments[].canary.image":            "{{.App}}" + overlays.CanarySuffix,
		"environments[].verify.flux.namespace":   kube.DefaultFluxNamespace,
		"environments[].verify.argocd.namespace": kube.DefaultArgoCDNamespace,

		"registry.interval":          dur(config.DefaultRegistryInterval),
		"registry.requestsPerSecond": fmt.Sprint(config.DefaultRequestsPerSecond),
		"registry.timeout":           dur(registry.DefaultRequestTimeout),
		"registry.lookupTimeout":     dur(registry.DefaultLookupTimeout),
		"registry.maxBodyBytes":      size(registry.DefaultMaxBodyBytes),
		"registry.maxTagListBytes":   size(registry.DefaultMaxTagListBytes),
		"registry.patience":          dur(agent.DefaultRegistryPatience),

		"webhooks.maxBodyBytes":       size(config.DefaultMaxBodyBytes),
		"webhooks.bodyTimeout":        dur(config.DefaultBodyTimeout),
		"webhooks.maxUnauthenticated": fmt.Sprint(config.DefaultMaxUnauthenticated),

		"providers.prometheus.timeout": dur(prometheus.DefaultTimeout),

		"rollback.labels.app": webhook.DefaultAppLabel,
		"rollback.labels.env": webhook.DefaultEnvLabel,
	}
	// The canary's route, as the canary planner resolves it for an app
	// named X when nothing is set.
	cp, err := canary.PlanFor(&config.App{Name: "X", Image: "r/x"}, &config.Environment{Name: "prod", Canary: &config.Canary{Analysis: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"file": cp.RoutePath, "name": cp.Route.Name, "stable": cp.Route.Stable, "canary": cp.Route.Canary} {
		want["environments[].canary.route."+k] = strings.ReplaceAll(v, "X", "{{.App}}")
	}
	// Analysis defaults, as the analysis compiler applies them.
	tmpl := func(judge bool) analysis.Template {
		at := config.AnalysisTemplate{Metrics: []config.AnalysisMetric{{Name: "m", Query: "up"}}}
		if judge {
			at.Judge = &config.AnalysisJudge{}
		} else {
			at.Metrics[0].SuccessCondition = "result > 0"
		}
		c, err := analysis.Compile(at.Template("t"), []string{analysis.DefaultProvider})
		if err != nil {
			t.Fatal(err)
		}
		out := c.Template()
		out.Metrics = []analysis.Metric{c.Metric(0).Metric()}
		return out
	}
	plain, judged := tmpl(false), tmpl(true)
	a := "analyses.<name>."
	for k, v := range map[string]any{
		"provider": plain.Provider, "interval": plain.Interval, "count": plain.Count, "initialDelay": plain.InitialDelay,
		"failureLimit": plain.FailureLimit, "inconclusiveLimit": plain.InconclusiveLimit, "consecutiveErrorLimit": *plain.ConsecutiveErrorLimit,
		"metrics[].provider": plain.Metrics[0].Provider, "metrics[].direction": judged.Metrics[0].Direction, "metrics[].weight": judged.Metrics[0].Weight,
		"judge.lookback": judged.Judge.Lookback, "judge.step": judged.Judge.Step, "judge.confidence": judged.Judge.Confidence,
		"judge.tolerance": judged.Judge.Tolerance, "judge.pass": judged.Judge.Pass, "judge.marginal": judged.Judge.Marginal,
	} {
		if d, ok := v.(time.Duration); ok {
			v = dur(d)
		}
		want[a+k] = fmt.Sprint(v)
	}
	// Parse applies the rest: an app's interval is registry.interval.
	p, err := config.Parse("t.yaml", []byte(minimal+"registry: {interval: 7s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Apps[0].Interval.Std() != 7*time.Second {
		t.Errorf("apps[].interval = %s with registry.interval 7s", p.Apps[0].Interval.Std())
	}
	// Defaults the page words rather than states; each is checked here
	// or is the zero value.
	described := map[string]string{
		"environments[].tier":    "from the name", // config.TierFor, tested in agent/config
		"notifications.events":   "all",           // agent/notify sends every kind when empty
		"dashboard.roles[].envs": "all",           // agent/dashboard: an entry without envs holds everywhere (TestRolesIn)
	}
	types := map[string]string{}
	for _, k := range configKeys() {
		types[k.path] = k.typ
	}
	for _, r := range tableRows(t, "config.md") {
		p := placeholder.ReplaceAllString(r.path, "<name>")
		w, ok := want[p]
		switch {
		case ok:
			if r.def != "`"+w+"`" {
				t.Errorf("config.md:%d: %s defaults to `%s`, the page says %s", r.line, r.path, w, r.def)
			}
			delete(want, p)
		case described[p] != "":
			if r.def != described[p] {
				t.Errorf("config.md:%d: %s: want the default worded %q, found %q", r.line, r.path, described[p], r.def)
			}
		case types[p] == "bool":
			if r.def != "`false`" {
				t.Errorf("config.md:%d: %s is a bool left false when unset; the page says %s", r.line, r.path, r.def)
			}
		case r.def != "—":
			t.Errorf("config.md:%d: %s shows default %s that no check here knows: add it to want", r.line, r.path, r.def)
		}
	}
	for p, w := range want {
		t.Errorf("config.md does not show %s's default `%s`", p, w)
	}
}

// minimal is the smallest pipeline the examples are completed with.
const minimal = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: file:///srv/fleet.git}
apps:
  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev, overlay: overlays/dev, auto: true}
`

// TestConfigReferenceExamples: every example on the page is a valid
// ferry.yaml (completed with git, apps and environments when it has none),
// checked by the real parser and validator.
func TestConfigReferenceExamples(t *testing.T) {
	blocks := yamlBlocks(t, "config.md")
	if len(blocks) < 10 {
		t.Fatalf("found %d yaml examples in config.md", len(blocks))
	}
	for _, b := range blocks {
		p, err := config.Parse(fmt.Sprintf("config.md:%d", b.line), []byte(complete(b.text)))
		if err != nil {
			t.Errorf("example at config.md:%d does not parse:\n%v", b.line, err)
			continue
		}
		// Message templates are checked by the notifier, against an event.
		n := p.Notifications
		if e := n.Email; e != nil {
			if _, err := notify.NewTemplates(e.Subject, e.Body); err != nil {
				t.Errorf("config.md:%d: notifications.email templates: %v", b.line, err)
			}
		}
		if s := n.Slack; s != nil {
			if _, err := notify.NewTemplates(s.Subject, s.Body); err != nil {
				t.Errorf("config.md:%d: notifications.slack templates: %v", b.line, err)
			}
		}
	}
}

type block struct {
	text string
	line int
}

func yamlBlocks(t *testing.T, page string) []block {
	t.Helper()
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "```yaml" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && lines[i] != "```"; i++ {
		}
		out = append(out, block{strings.Join(lines[start:i], "\n") + "\n", start + 1})
	}
	return out
}

// complete adds the header and the required sections an example leaves out.
func complete(text string) string {
	if strings.HasPrefix(text, "apiVersion:") {
		return text
	}
	doc := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\n"
	for _, base := range []struct{ key, text string }{
		{"git", "git: {url: file:///srv/fleet.git}\n"},
		{"apps", "apps:\n  - {name: checkout, image: registry.example/shop/checkout, tags: {semver: \">=1.0.0\"}}\n"},
		{"environments", "environments:\n  - {name: dev, overlay: overlays/dev, auto: true}\n"},
	} {
		if !regexp.MustCompile(`(?m)^` + base.key + `:`).MatchString(text) {
			doc += base.text
		}
	}
	return doc + text
}

// dur writes a duration as the page does: 1m, not 1m0s.
func dur(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "m0s") + map[bool]string{true: "m", false: ""}[strings.HasSuffix(s, "m0s")]
	s = strings.TrimSuffix(s, "h0m") + map[bool]string{true: "h", false: ""}[strings.HasSuffix(s, "h0m")]
	return s
}

// size writes a byte count as the page does: 16 MiB.
func size(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprint(n)
}

// sourceConst reads an unexported integer or duration constant from Go
// source, so the page is checked against the value the code uses without
// exporting it: literals, time units, *, << and +.
func sourceConst(t *testing.T, file, name string) int64 {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]int64{"Nanosecond": 1, "Microsecond": int64(time.Microsecond), "Millisecond": int64(time.Millisecond),
		"Second": int64(time.Second), "Minute": int64(time.Minute), "Hour": int64(time.Hour)}
	var eval func(e ast.Expr) int64
	eval = func(e ast.Expr) int64 {
		switch e := e.(type) {
		case *ast.BasicLit:
			v, err := strconv.ParseInt(e.Value, 0, 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", file, name, err)
			}
			return v
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok && x.Name == "time" && units[e.Sel.Name] > 0 {
				return units[e.Sel.Name]
			}
		case *ast.BinaryExpr:
			l, r := eval(e.X), eval(e.Y)
			switch e.Op {
			case token.MUL:
				return l * r
			case token.SHL:
				return l << r
			case token.ADD:
				return l + r
			}
		}
		t.Fatalf("%s: %s: cannot evaluate %T", file, name, e)
		return 0
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name == name && i < len(vs.Values) {
					return eval(vs.Values[i])
				}
			}
		}
	}
	t.Fatalf("%s has no constant %s", file, name)
	return 0
}

// TestConfigReferenceExamplesCover: every key appears in an example on the
// page (which TestConfigReferenceExamples parses), so each has one.
func TestConfigReferenceExamplesCover(t *testing.T) {
	var examples strings.Builder
	for _, b := range yamlBlocks(t, "config.md") {
		examples.WriteString(b.text)
	}
	for _, k := range configKeys() {
		last := k.path[strings.LastIndex(k.path, ".")+1:]
		last = strings.TrimSuffix(last, "[]")
		if !regexp.MustCompile(`(^|[\s{,])` + regexp.QuoteMeta(last) + `:`).MatchString(examples.String()) {
			t.Errorf("config.md: no example shows %s", k.path)
		}
	}
}
