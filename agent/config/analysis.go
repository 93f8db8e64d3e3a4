package config

import (
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/analysis"
)

// AnalysisTemplate is one analyses: entry, in the spirit of Argo Rollouts'
// AnalysisTemplate. Defaults are analysis.Template's.
type AnalysisTemplate struct {
	Provider              string           `yaml:"provider,omitempty"` // default prometheus
	Interval              Duration         `yaml:"interval,omitempty"`
	Count                 int              `yaml:"count,omitempty"`
	InitialDelay          Duration         `yaml:"initialDelay,omitempty"`
	FailureLimit          int              `yaml:"failureLimit,omitempty"`
	InconclusiveLimit     int              `yaml:"inconclusiveLimit,omitempty"`
	ConsecutiveErrorLimit *int             `yaml:"consecutiveErrorLimit,omitempty"`
	Metrics               []AnalysisMetric `yaml:"metrics"`
	// Judge compares canary and baseline series statistically instead of
	// checking conditions.
	Judge *AnalysisJudge `yaml:"judge,omitempty"`
}

// AnalysisMetric is one query and its conditions (or its judge settings).
type AnalysisMetric struct {
	Name string `yaml:"name"`
	// Query is a Go template over .App .Env .Version .Stable .Canary.
	Query            string  `yaml:"query"`
	SuccessCondition string  `yaml:"successCondition,omitempty"`
	FailureCondition string  `yaml:"failureCondition,omitempty"`
	Provider         string  `yaml:"provider,omitempty"`
	Direction        string  `yaml:"direction,omitempty"` // judge: increase (default), decrease, either
	Critical         bool    `yaml:"critical,omitempty"`
	Weight           float64 `yaml:"weight,omitempty"`
}

// AnalysisJudge configures the Mann-Whitney canary judge.
type AnalysisJudge struct {
	Lookback   Duration `yaml:"lookback,omitempty"`
	Step       Duration `yaml:"step,omitempty"`
	Confidence float64  `yaml:"confidence,omitempty"`
	Tolerance  float64  `yaml:"tolerance,omitempty"`
	Pass       float64  `yaml:"pass,omitempty"`
	Marginal   float64  `yaml:"marginal,omitempty"`
}

// Template converts the entry to the analysis package's form.
func (t AnalysisTemplate) Template(name string) analysis.Template {
	out := analysis.Template{
		Name:                  name,
		Provider:              t.Provider,
		Interval:              t.Interval.Std(),
		Count:                 t.Count,
		InitialDelay:          t.InitialDelay.Std(),
		FailureLimit:          t.FailureLimit,
		InconclusiveLimit:     t.InconclusiveLimit,
		ConsecutiveErrorLimit: t.ConsecutiveErrorLimit,
	}
	for _, m := range t.Metrics {
		out.Metrics = append(out.Metrics, analysis.Metric{
			Name: m.Name, Query: m.Query,
			SuccessCondition: m.SuccessCondition, FailureCondition: m.FailureCondition,
			Provider: m.Provider, Direction: m.Direction, Critical: m.Critical, Weight: m.Weight,
		})
	}
	if j := t.Judge; j != nil {
		out.Judge = &analysis.Judge{
			Lookback: j.Lookback.Std(), Step: j.Step.Std(),
			Confidence: j.Confidence, Tolerance: j.Tolerance, Pass: j.Pass, Marginal: j.Marginal,
		}
	}
	return out
}

// Canary strategies: each is a sequence of route commits.
const (
	StrategyCanary    = "canary"    // weighted steps
	StrategyBlueGreen = "blueGreen" // analyse the idle colour, then switch all traffic
	StrategyABTest    = "abTest"    // a header-match rule sends matching requests to the canary
	StrategyShadow    = "shadow"    // the stable rule mirrors requests to the canary
)

// Strategies lists the canary strategies ferry knows.
var Strategies = []string{StrategyCanary, StrategyBlueGreen, StrategyABTest, StrategyShadow}

// Canary delivers a version progressively through an HTTPRoute of the
// overlay: every step is a commit, and each step's analysis must pass
// before the next.
type Canary struct {
	Strategy string `yaml:"strategy,omitempty"` // default canary
	// Steps are the canary's traffic weights in percent, e.g. [5, 25, 50, 100].
	Steps []int `yaml:"steps,omitempty"`
	// Analysis names the analyses: template run at each step.
	Analysis string `yaml:"analysis"`
	Route    Route  `yaml:"route,omitempty"`
	// Header is the A/B rule's match (abTest only).
	Header *HeaderMatch `yaml:"header,omitempty"`
	// Image is the images: entry name of the canary Deployment's container;
	// a Go template over .App .Image; default "<the stable entry's name>-canary".
	Image string `yaml:"image,omitempty"`
}

// Route names an HTTPRoute in the overlay and its two backends. Each field
// is a Go template over .App; the defaults suit one route file per app.
type Route struct {
	File   string `yaml:"file,omitempty"`   // default {{.App}}-route.yaml, relative to the overlay
	Name   string `yaml:"name,omitempty"`   // default {{.App}}
	Stable string `yaml:"stable,omitempty"` // default {{.App}}
	Canary string `yaml:"canary,omitempty"` // default {{.App}}-canary
}

// HeaderMatch is an HTTP header name and exact value.
type HeaderMatch struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Verify says how ferry knows an environment serves a version before it
// analyses it.
type Verify struct {
	// Readiness is a PromQL template over .App .Env .Version; the version is
	// served once it returns a sample greater than zero.
	Readiness string `yaml:"readiness,omitempty"`
	// Timeout bounds the wait; default 5m. A version never served fails.
	Timeout Duration `yaml:"timeout,omitempty"`
	// Flux: wait until this Flux Kustomization applied the commit and is Ready.
	Flux *FluxCheck `yaml:"flux,omitempty"`
	// ArgoCD: wait until this Argo CD Application synced the commit and is Healthy.
	ArgoCD *ArgoCDCheck `yaml:"argocd,omitempty"`
}

// FluxCheck names a Flux Kustomization (kustomize.toolkit.fluxcd.io).
type FluxCheck struct {
	Kustomization string `yaml:"kustomization"`
	Namespace     string `yaml:"namespace,omitempty"` // default flux-system
}

// ArgoCDCheck names an Argo CD Application (argoproj.io).
type ArgoCDCheck struct {
	Application string `yaml:"application"`
	Namespace   string `yaml:"namespace,omitempty"` // default argocd
}

// Cluster is the Kubernetes cluster an environment runs in; ferry reads
// its workloads to know the environment runs what ferry committed.
type Cluster struct {
	Kubeconfig string `yaml:"kubeconfig,omitempty"` // empty: in-cluster, then $KUBECONFIG
	Context    string `yaml:"context,omitempty"`
	Namespace  string `yaml:"namespace,omitempty"` // default: the rendered objects' own, else "default"
}

// DefaultVerifyTimeout bounds the wait for readiness.
const DefaultVerifyTimeout = 5 * time.Minute

// VerifyTimeout is the env's readiness timeout, defaulted.
func (e *Environment) VerifyTimeout() time.Duration {
	if e.Verify != nil && e.Verify.Timeout > 0 {
		return e.Verify.Timeout.Std()
	}
	return DefaultVerifyTimeout
}

// CanaryEntry is the images entry of app's canary in env when canary.image
// names it; "" for the default, the stable entry's name plus "-canary".
// The template is checked at load; one that fails here names no entry.
func (env *Environment) CanaryEntry(app *App) string {
	if env == nil || env.Canary == nil || env.Canary.Image == "" {
		return ""
	}
	t, err := template.New("image").Option("missingkey=error").Parse(env.Canary.Image)
	if err != nil {
		return ""
	}
	var b strings.Builder
	if err := t.Execute(&b, map[string]string{"App": app.Name, "Image": app.Image}); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}
