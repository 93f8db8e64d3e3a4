package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/overlays"
	"github.com/ferry-dev/ferry/policies"
)

// demoCmd is `ferry demo`: the real agent, registry protocol and git
// objects, nothing mocked, so the timeline shows what ferry run would do.
func demoCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow on an embedded default and print the timeline",
		Long: `demo starts an in-process OCI registry on 127.0.0.1, seeds a local bare fleet
repo from the example fleet, pushes a few image versions, runs the agent after
each push, and prints a timeline of what it promoted. The fleet repo stays on
disk so you can read its history with git log.`,
		Example: `  ferry demo
  ferry demo --dir /tmp/ferry-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "ferry-demo-")
				if err != nil {
					return err
				}
				dir = d
			}
			log := g.log
			if !cmd.Flags().Changed("log-level") {
				// The timeline is the demo's output; logs only for trouble.
				log, _ = newLogger(cmd.ErrOrStderr(), g.logFormat, "error")
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), dir, log)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's fleet repo and clone (default: a new temp dir)")
	return cmd
}

// demoStep is one thing that happens in the demo's story.
type demoStep struct {
	say    string
	push   []string // app:tag pushed to the registry
	scan   []string // app:tag:report — attach a Trivy report (clean, critical) to a pushed image
	pass   bool
	revise string // a person commits this change to the fleet repo
}

// demoStory shows one behaviour a step: a clean promotion, a scan denial,
// semver ignoring pre-releases, a fix, late evidence, and a pass that writes
// nothing.
var demoStory = []demoStep{
	{say: "release 1.0.0 of checkout and cart, both scanned clean", push: []string{"checkout:1.0.0", "cart:1.0.0"},
		scan: []string{"checkout:1.0.0:clean", "cart:1.0.0:clean"}, pass: true},
	{say: "release checkout 1.1.0: its scan finds a CRITICAL vulnerability", push: []string{"checkout:1.1.0"},
		scan: []string{"checkout:1.1.0:critical"}, pass: true},
	{say: "push a pre-release (ignored by semver >=1.0.0) and an unrelated tag", push: []string{"checkout:1.2.0-rc.1", "cart:nightly"}, pass: true},
	{say: "release checkout 1.2.0 (fixed, scanned clean) and cart 1.0.1 (not scanned yet)", push: []string{"checkout:1.2.0", "cart:1.0.1"},
		scan: []string{"checkout:1.2.0:clean"}, pass: true},
	{say: "the scan of cart 1.0.1 arrives, clean", scan: []string{"cart:1.0.1:clean"}, pass: true},
	{say: "nothing new: a pass writes nothing", pass: true},
}

func runDemo(ctx context.Context, w io.Writer, dir string, log *slog.Logger) error {
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(w, "[%6.2fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	regHost, stopRegistry, err := startDemoRegistry()
	if err != nil {
		return err
	}
	defer stopRegistry()
	say("registry listening at http://%s (in-process, CNCF distribution API)", regHost)

	bare := filepath.Join(dir, "fleet.git")
	p, err := seedDemoFleet(ctx, bare, regHost, log)
	if err != nil {
		return err
	}
	say("fleet repo seeded at %s: the example fleet, ferry.yaml, and policies/ (qa denies CRITICAL vulnerabilities and unscanned images; ppd and prod are left ungated, as ferry plan would warn: the demo has no SonarQube)", bare)

	repo, err := fleet.Open(ctx, fleet.Options{
		URL: bare, Branch: p.Git.Branch, Dir: filepath.Join(dir, "clone"),
		Author: fleet.Signature{Name: p.Git.Author.Name, Email: p.Git.Author.Email}, Logger: log,
	})
	if err != nil {
		return err
	}
	reg, err := registryClient(p, log)
	if err != nil {
		return err
	}
	a, err := newAgent(p, repo, reg, log, nil, nil)
	if err != nil {
		return err
	}
	// Scans attach to digests; a standing denial is told once, as the agent
	// logs it.
	digests := map[string]string{}
	denied := map[string]bool{}
	for _, st := range demoStory {
		say("%s", st.say)
		for _, ref := range st.push {
			app, tag, _ := strings.Cut(ref, ":")
			digest, err := pushRandomImage(ctx, regHost+"/shop/"+app, tag)
			if err != nil {
				return err
			}
			digests[ref] = digest
			say("  registry: pushed shop/%s:%s (%.19s)", app, tag, digest)
		}
		for _, s := range st.scan {
			app, rest, _ := strings.Cut(s, ":")
			tag, kind, _ := strings.Cut(rest, ":")
			if _, err := reg.Attach(ctx, regHost+"/shop/"+app, digests[app+":"+tag], gate.TrivyReportType,
				demoReport(app, tag, kind == "critical"), nil, false); err != nil {
				return err
			}
			say("  registry: attached a Trivy report (%s) to shop/%s:%s as an OCI referrer", kind, app, tag)
		}
		if !st.pass {
			continue
		}
		// One pass per step, as a registry notification would trigger one.
		res, err := a.Reconcile(ctx, agent.Scope{All: true, Reason: "demo"})
		if err != nil {
			return err
		}
		if len(res.Promotions) == 0 {
			say("  agent: nothing to promote")
		}
		for _, pr := range res.Promotions {
			say("  agent: promote %-8s %-7s -> %-4s (from %s) commit %.7s", pr.App, pr.Candidate.Tag, pr.Env, pr.From, pr.Commit)
		}
		for _, step := range res.Plan.Steps {
			key := step.App + step.Env + step.Candidate.String()
			if step.Action == agent.ActionDeny && !denied[key] {
				denied[key] = true
				say("  gate:  deny    %-8s %-7s -> %-4s %s", step.App, step.Candidate.Tag, step.Env, strings.TrimPrefix(step.Reason, "denied: "))
			}
		}
		for _, e := range res.Errors {
			say("  agent: error: %s", e)
		}
	}
	// A dry pass for the final matrix: the same reads, no writes.
	plan, err := a.Plan(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nwhat runs where:")
	printMatrix(w, p, plan)
	fmt.Fprintf(w, "\nThe fleet repo's history is the audit trail:\n  git -C %s log --format='%%h %%s%%n%%(trailers:only,unfold)' | head -40\n", bare)
	return nil
}

// demoReport is a Trivy JSON report (SchemaVersion 2) of the demo image.
func demoReport(app, tag string, critical bool) []byte {
	vulns := `[]`
	if critical {
		vulns = `[{"VulnerabilityID": "CVE-2026-31337", "PkgName": "openssl", "InstalledVersion": "3.0.1", "FixedVersion": "3.0.9", "Severity": "CRITICAL", "Title": "openssl: buffer overflow in X.509 name checks"}]`
	}
	return []byte(fmt.Sprintf(`{"SchemaVersion": 2, "ArtifactName": "shop/%s:%s", "ArtifactType": "container_image",
  "Results": [{"Target": "shop/%s:%s (debian 12.8)", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": %s}]}`,
		app, tag, app, tag, vulns))
}

func printMatrix(w io.Writer, p *config.Pipeline, plan *agent.Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "APP")
	for _, e := range p.Environments {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(e.Name))
	}
	fmt.Fprintln(tw)
	cur := map[string]string{}
	for _, s := range plan.Steps {
		cur[s.App+"/"+s.Env] = s.Current.Tag
	}
	for _, app := range p.Apps {
		fmt.Fprint(tw, app.Name)
		for _, e := range p.Environments {
			fmt.Fprintf(tw, "\t%s", cur[app.Name+"/"+e.Name])
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// startDemoRegistry serves go-containerregistry's in-process registry on a
// free loopback port: loopback registries speak plain HTTP (no TLS to set
// up), and nothing outside the machine reaches it.
func startDemoRegistry() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("demo registry: %w", err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(stdlog.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "demo registry:", err)
		}
	}()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func pushRandomImage(ctx context.Context, repo, tag string) (string, error) {
	// One small random layer: a real image with its own digest, cheap to push.
	img, err := random.Image(512, 1)
	if err != nil {
		return "", err
	}
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	d, err := img.Digest()
	return d.String(), err
}

// seedDemoFleet creates the bare fleet repo with the example fleet and a
// ferry.yaml pointing at it and at the demo registry.
func seedDemoFleet(ctx context.Context, bare, regHost string, log *slog.Logger) (*config.Pipeline, error) {
	files, err := overlays.ExampleFleet(regHost)
	if err != nil {
		return nil, err
	}
	for name, data := range policies.DefaultFiles() {
		// The demo gates on scans only: ppd and prod need SonarQube and analysis evidence it has not got.
		if strings.HasPrefix(name, "qa") || strings.HasPrefix(name, "common") || name == "input.schema.json" {
			files["policies/"+name] = data
		}
	}
	// git.url must name the repository ferry.yaml lives in: the bare repo.
	cfg := strings.ReplaceAll(string(files["ferry.yaml"]), "FLEET", bare)
	files["ferry.yaml"] = []byte(cfg)
	p, err := config.Parse("ferry.yaml (demo)", files["ferry.yaml"])
	if err != nil {
		return nil, err
	}
	err = fleet.InitBare(ctx, bare, p.Git.Branch, files, "seed the example fleet\n",
		fleet.Signature{Name: "demo", Email: "demo@ferry.dev"}, time.Now(), log)
	return p, err
}
