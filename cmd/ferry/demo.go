package main

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/publish"
	"github.com/ferry-dev/ferry/agent/pullrequest"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/webhook"
	"github.com/ferry-dev/ferry/internal/inprom"
	"github.com/ferry-dev/ferry/overlays"
	"github.com/ferry-dev/ferry/policies"
)

// demoCmd is `ferry demo`: the real agent loop, registry protocol, git
// objects, policies, Prometheus packages and webhook handler, nothing
// mocked, so the timeline shows what ferry run would do.
func demoCmd(g *globals) *cobra.Command {
	var dir string
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow on an embedded default and print the timeline",
		Long: `demo runs the whole story in about 20 s with no outside server. In-process
on 127.0.0.1: an OCI registry, a SonarQube answering from recorded responses, a
forge that keeps pull requests in memory, Prometheus (its scrape manager, TSDB,
PromQL engine and rules manager) scraping a workload that runs what the fleet
repo's overlays say, and ferry's own webhook server. The agent loop promotes a
good release through dev, qa (analysed), ppd (a pull request: its gate report is
printed and the demo approves it by merging), and prod (soak, the product
owner's approval as ferry approve writes it, then a canary analysed at every
step), aborts a bad release's canary, rolls prod back when an alert rule fires,
and leaves a last release waiting for approval.

The fleet repo, Prometheus's data and the pull requests live in a temporary
directory, removed at the end (also on Ctrl-C, SIGTERM, SIGHUP or an error)
unless --keep. The story gives up after 3 minutes, naming what it waited for.`,
		Example: `  ferry demo
  ferry demo --keep`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// SIGHUP (the terminal closed) ends the demo like SIGTERM, so its
			// temp dir is removed then too; main catches SIGINT and SIGTERM.
			ctx, stop := notifySignals(cmd.Context(), syscall.SIGHUP)
			defer stop()
			if dir == "" {
				d, err := os.MkdirTemp("", "ferry-demo-")
				if err != nil {
					return err
				}
				dir = d
			} else {
				keep = true // a directory the user named is theirs
			}
			log := g.log
			if !cmd.Flags().Changed("log-level") {
				// The timeline is the demo's output, and the story's
				// failures are its errors; --log-level info shows the agent's
				// log (its errors are on the timeline either way).
				log = slog.New(slog.DiscardHandler)
			}
			err := runDemo(ctx, cmd.OutOrStdout(), dir, keep, log)
			// Removed on success, on an error and on a signal alike.
			if !keep {
				if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
					err = fmt.Errorf("remove the demo's directory: %w", rmErr)
				}
			}
			var sig signalled
			if err != nil && errors.As(context.Cause(ctx), &sig) {
				// The story's own context errors say nothing the signal does not.
				verb := "removed"
				if keep {
					verb = "kept"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "interrupted; %s %s\n", verb, dir)
				return exitError{code: sig.code()}
			}
			if err != nil && keep {
				err = fmt.Errorf("%w (kept %s)", err, dir)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the demo's fleet repo, Prometheus data and pull requests (kept; default: a new temp dir)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temp dir and print its path, to read the fleet repo's history afterwards")
	return cmd
}

// demoDeadline bounds the whole story: it takes about 20 s, a loaded
// machine is slower, and one that cannot write (a full disk) would wait
// for ever. A variable: the tests shorten it.
var demoDeadline = 3 * time.Minute

// errDemoDeadline is the cause of the story's context when demoDeadline passed.
var errDemoDeadline = errors.New("the demo's deadline passed")

// demo is one run of the story.
type demo struct {
	w      io.Writer
	start  time.Time
	dir    string
	bare   string
	regURL string
	reg    *registry.Client
	sonar  *demoSonar
	forge  *demoForge
	health *demoHealth
	work   *workload

	log *slog.Logger
	// ctx is the story's; once it ends (a signal, the deadline), or quiet
	// is set (the story is over and the demo stops the agent), nothing more
	// is printed on the timeline: errors the demo's own shutdown causes
	// are not the agent's.
	ctx   context.Context
	quiet atomic.Bool
	// step is what the story waits for now, named when the deadline passes.
	step string
	// gitMu orders the timeline: a commit is printed before any line of
	// the agent's that follows it (see syncGit); seen is main's head printed.
	gitMu sync.Mutex
	seen  plumbing.Hash
	// hooks and token reach ferry's webhooks, as a registry's
	// notifications endpoint would.
	hooks, token string

	mu      sync.Mutex
	denied  map[string]bool
	errors  map[string]bool // sayError's lines, hashes and numbers masked
	denials []string        // "env tag" of every denial seen
	waiting map[string]bool // "env tag" of every hold for a person's approval
	agent   *agent.Agent
	records []ledger.Record // the records of main's first-parent history, oldest first
}

func runDemo(ctx context.Context, w io.Writer, dir string, keep bool, log *slog.Logger) error {
	ctx, cancel := context.WithTimeoutCause(ctx, demoDeadline, errDemoDeadline)
	defer cancel()
	d := &demo{w: w, start: time.Now(), dir: dir, bare: filepath.Join(dir, "fleet.git"), sonar: &demoSonar{},
		health: &demoHealth{bad: map[string]float64{}}, denied: map[string]bool{}, errors: map[string]bool{}, waiting: map[string]bool{}, ctx: ctx,
		step: "its in-process servers and the fleet repo to be set up"}
	// The agent's ERROR records go on the timeline too: a write that
	// fails (a full disk) is seen without --log-level.
	d.log = slog.New(&timelineHandler{next: log.Handler(), say: func(m string) { d.sayError("agent", m) }})
	err := d.run(ctx, keep, slog.New(&timelineHandler{next: log.Handler(), say: func(m string) { d.sayError("prometheus", m) }}))
	if err != nil && errors.Is(context.Cause(ctx), errDemoDeadline) {
		d.mu.Lock()
		step := d.step
		d.mu.Unlock()
		return fmt.Errorf("demo: not finished after %s: it was waiting for %s; rerun with --log-level info to see the agent's log", demoDeadline, step)
	}
	return err
}

func (d *demo) run(ctx context.Context, keep bool, promLog *slog.Logger) error {
	w, dir, log := d.w, d.dir, d.log

	// The registry.
	regHost, stopReg, err := serveLocal(ggcrregistry.New(ggcrregistry.Logger(stdlog.New(io.Discard, "", 0))))
	if err != nil {
		return fmt.Errorf("demo registry: %w", err)
	}
	defer stopReg()
	d.regURL = regHost + "/shop/checkout"
	sonarHost, stopSonar, err := serveLocal(d.sonar)
	if err != nil {
		return fmt.Errorf("demo sonarqube: %w", err)
	}
	defer stopSonar()
	d.say("in-process on 127.0.0.1: registry %s, SonarQube %s (recorded API responses)", regHost, sonarHost)

	// The webhook secret, in a file as ferry.yaml's webhooks.tokenFile names it.
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	tokenFile := filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
		return err
	}

	// 1.0.0 runs everywhere when the story starts.
	d.reg = registry.NewClient(registry.Options{Logger: log})
	seedDigest, err := d.release(ctx, "1.0.0", true, false)
	if err != nil {
		return err
	}

	// The workload and the Prometheus that scrapes it, before the fleet
	// repo: its ferry.yaml names Prometheus's address. The workload serves
	// nothing until it finds the fleet repo.
	var workHandler http.Handler
	d.work, workHandler = newWorkload(d.bare, d.health)
	workHost, stopWork, err := serveLocal(workHandler)
	if err != nil {
		return fmt.Errorf("demo workload: %w", err)
	}
	defer stopWork()

	// The bridge's URL and token are set once ferry's webhooks listen;
	// no alert fires before the story's incident.
	bridge := &alertBridge{client: &http.Client{Timeout: 10 * time.Second},
		state: map[string]string{}, told: func(status string, l map[string]string, code int, err error) {
			res := fmt.Sprint(code)
			if err != nil {
				res = err.Error()
			}
			d.say("alert: %s %s for %s in %s -> ferry POST /hooks/alertmanager (bearer token): %s", l["alertname"], status, l["app"], l["env"], res)
		}}
	prom, err := inprom.Start(inprom.Options{
		Dir: filepath.Join(dir, "prometheus"), Targets: []string{workHost}, ScrapeInterval: 250 * time.Millisecond,
		Rules: demoRules, EvalInterval: 250 * time.Millisecond, ResendDelay: time.Second, Alerts: bridge.send, Logger: promLog,
	})
	if err != nil {
		return fmt.Errorf("in-process prometheus: %w", err)
	}
	defer prom.Close()

	p, err := d.seed(ctx, regHost, "http://"+sonarHost, tokenFile, prom.URL, seedDigest)
	if err != nil {
		return err
	}
	hooksURL, stopHooks, loopRef, err := d.serveHooks(ctx, p, log)
	if err != nil {
		return err
	}
	defer stopHooks()
	token, err := config.ReadSecret(tokenFile)
	if err != nil {
		return err
	}
	d.hooks, d.token = hooksURL, token
	bridge.target(hooksURL+"/hooks/alertmanager", token)
	d.say("in-process Prometheus %s scrapes the workload %s every 250ms (TSDB in %s); rule HighErrorRate evaluated every 250ms",
		prom.URL, workHost, filepath.Join(dir, "prometheus"))
	d.say("ferry webhooks at %s (bearer token from %s)", hooksURL, tokenFile)

	// The agent, with the demo's forge for ppd's pull requests.
	repo, err := fleet.Open(ctx, fleet.Options{URL: d.bare, Branch: p.Git.Branch, Dir: filepath.Join(dir, "clone"),
		Author: fleet.Signature{Name: p.Git.Author.Name, Email: p.Git.Author.Email}, Logger: log})
	if err != nil {
		return err
	}
	if err := d.seedVerdict(ctx, repo, seedDigest); err != nil {
		return err
	}
	forgeRepo, err := fleet.Open(ctx, fleet.Options{URL: d.bare, Branch: p.Git.Branch, Dir: filepath.Join(dir, "forge"),
		Author: fleet.Signature{Name: "reviewer", Email: "reviewer@example.com"}, Logger: log})
	if err != nil {
		return err
	}
	pulls := filepath.Join(dir, "pulls")
	if err := os.MkdirAll(pulls, 0o700); err != nil {
		return err
	}
	d.forge = &demoForge{dir: pulls, repo: forgeRepo, opened: func(pr pullrequest.PR) {
		d.say("forge: pull request #%d %q (%s -> %s), body: the gate report (%s)", pr.Number, pr.Title, pr.Head, pr.Base, pr.URL)
	}}
	if d.reg, err = registryClient(p, log); err != nil {
		return err
	}
	o, err := agentOptions(p, repo, d.reg, log, nil, nil)
	if err != nil {
		return err
	}
	o.PullRequests, o.Branches = d.forge, repo
	a, err := agent.New(o)
	if err != nil {
		return err
	}
	d.agent = a
	loop := agent.NewLoop(a, p.Git.Interval.Std())
	d.hook(loop)
	loopRef.Store(loop)
	loopCtx, stopLoop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	defer stopLoop()
	bg.Go(func() { d.work.run(loopCtx) })
	bg.Go(func() { _ = loop.Run(loopCtx) })
	bg.Go(func() { d.watchGit(loopCtx) })

	err = d.story(ctx)
	// From here on the agent's errors are the demo's shutdown's.
	d.quiet.Store(true)
	if err != nil {
		return err
	}
	stopLoop()
	bg.Wait()

	plan, err := a.Plan(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nthe fleet repo's main branch: %s\n", d.tally())
	fmt.Fprintln(w, "\nwhat runs where:")
	printMatrix(w, p, plan)
	if pr, ok := d.forge.open("promote checkout 1.3.0 to ppd"); ok {
		fmt.Fprintf(w, "waiting for approval: pull request #%d, %s\n", pr.Number, pr.Title)
	}
	const replay = "log --notes=ferry --format='%h %an: %s%n%(trailers:only,unfold)%N' main"
	if keep {
		fmt.Fprintf(w, "\nThe fleet repo's history is the audit trail (verdicts are git notes):\n  git -C %s %s\n", d.bare, replay)
		fmt.Fprintf(w, "kept %s (fleet.git, pulls/*.md, prometheus/)\n", dir)
	} else {
		// The temp dir is gone when this is read: a command naming it would fail.
		fmt.Fprintf(w, "\nThe fleet repo's history is the audit trail (verdicts are git notes); %s is removed now.\n", dir)
		fmt.Fprintf(w, "run ferry demo --keep to replay it with: git -C <dir>/fleet.git %s\n", replay)
	}
	fmt.Fprintf(w, "demo finished in %.1fs\n", time.Since(d.start).Seconds())
	return nil
}

// demoRules is the alert rule the in-process rules manager evaluates: an
// environment serving more than 10% errors.
const demoRules = `groups:
  - name: checkout
    rules:
      - alert: HighErrorRate
        expr: sum by (app, env) (rate(http_requests_total{code="500"}[2s])) / sum by (app, env) (rate(http_requests_total[2s])) > 0.1
        for: 1s
        labels: {severity: critical}
        annotations: {summary: '{{ $labels.app }} in {{ $labels.env }}: {{ $value | humanizePercentage }} of requests fail'}
`

// release pushes tag with a Trivy report attached and, when sonar, a
// SonarQube analysis of its revision.
func (d *demo) release(ctx context.Context, tag string, clean, sonar bool) (string, error) {
	sum := sha1.Sum([]byte("checkout " + tag)) // a source commit id, as CI labels the image
	revision := hex.EncodeToString(sum[:])
	digest, err := pushDemoImage(ctx, d.regURL, tag, revision, func(digest string) error {
		if _, err := d.reg.Attach(ctx, d.regURL, digest, gate.TrivyReportType, demoReport("checkout", tag, !clean), nil, false); err != nil {
			return err
		}
		kind := "clean"
		if !clean {
			kind = "a CRITICAL finding"
		}
		d.say("registry: pushed shop/checkout:%s (%.19s, revision %.7s) with a Trivy report (%s) as an OCI referrer", tag, digest, revision, kind)
		if sonar {
			d.sonar.analyse(revision, true)
			d.say("sonarqube: analysis of revision %.7s: quality gate OK", revision)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if d.hooks != "" {
		d.notify(tag, digest)
	}
	return digest, nil
}

// notify posts the registry's push notification (the CNCF distribution
// envelope) to ferry's /hooks/registry, as a registry's notifications
// endpoint with a bearer token would: ferry reconciles the app at once
// instead of at its next poll.
func (d *demo) notify(tag, digest string) {
	host, repo, _ := strings.Cut(d.regURL, "/")
	body := fmt.Sprintf(`{"events": [{"id": "%s", "timestamp": %q, "action": "push",
  "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": %q, "repository": %q, "url": "http://%s/v2/%s/manifests/%s", "tag": %q},
  "request": {"host": %q}, "source": {"addr": %q}}]}`,
		digest[7:19], time.Now().UTC().Format(time.RFC3339Nano), digest, repo, host, repo, digest, tag, host, host)
	d.say("registry: push notification -> ferry POST /hooks/registry (bearer token): %s",
		d.post("/hooks/registry", webhook.NotificationMediaType, body))
}

// post sends body to one of ferry's webhooks with the bearer token and
// says how it was answered.
func (d *demo) post(path, contentType, body string) string {
	req, err := http.NewRequest(http.MethodPost, d.hooks+path, strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	_ = resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

// seed creates the bare fleet repo from the embedded demo fleet, the
// default policies and 1.0.0 in every overlay.
func (d *demo) seed(ctx context.Context, regHost, sonarURL, tokenFile, promURL, digest string) (*config.Pipeline, error) {
	files, err := overlays.DemoFleet(regHost)
	if err != nil {
		return nil, err
	}
	for name, data := range policies.DefaultFiles() {
		files["policies/"+name] = data
	}
	for _, env := range strings.Fields(demoEnvs) {
		path := "overlays/" + env + "/kustomization.yaml"
		for _, entry := range []string{"registry.example/shop/checkout", "registry.example/shop/checkout-canary"} {
			if env != "prod" && strings.HasSuffix(entry, "-canary") {
				continue
			}
			if files[path], _, err = overlays.SetImage(files[path], overlays.Image{Name: entry, NewTag: "1.0.0", Digest: digest}); err != nil {
				return nil, fmt.Errorf("seed %s: %w", path, err)
			}
		}
	}
	cfg := strings.NewReplacer("FLEET", d.bare, "SONAR", sonarURL, "TOKENFILE", tokenFile,
		"PROMETHEUS", promURL).Replace(string(files["ferry.yaml"]))
	files["ferry.yaml"] = []byte(cfg)
	p, err := config.Parse("ferry.yaml (demo)", files["ferry.yaml"])
	if err != nil {
		return nil, err
	}
	if err := fleet.InitBare(ctx, d.bare, p.Git.Branch, files, "seed the demo fleet: checkout 1.0.0 everywhere\n",
		fleet.Signature{Name: "demo", Email: "demo@ferry.dev"}, time.Now(), d.log); err != nil {
		return nil, err
	}
	if err := d.syncGit(true); err != nil {
		return nil, fmt.Errorf("read the seeded fleet repo: %w", err)
	}
	d.say("fleet repo %s: dev -> qa (analysis smoke) -> ppd (pull request) -> prod (soak 2s, the product owner carol's approval, canary 25/50/100%% analysed) -> dr (mirror); default policies", d.bare)
	return p, nil
}

// serveHooks serves ferry's webhook handler, as `ferry run --listen` does,
// on 127.0.0.1; alerts go to the loop stored in the returned pointer.
func (d *demo) serveHooks(ctx context.Context, p *config.Pipeline, log *slog.Logger) (string, func(), *atomic.Pointer[agent.Loop], error) {
	verifier, err := webhookVerifier(p, log)
	if err != nil {
		return "", nil, nil, err
	}
	router, err := alertRouter(p)
	if err != nil {
		return "", nil, nil, err
	}
	var loop atomic.Pointer[agent.Loop]
	mux := http.NewServeMux()
	mux.Handle("/hooks/", newHooks(p, verifier, loop.Load, router, &globals{log: log}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	srv := webhook.NewServer(mux, webhook.ServerOptions{BodyTimeout: p.Webhooks.BodyTimeout.Std(), BaseContext: ctx})
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo webhooks", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, &loop, nil
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

// seedVerdict records, the way ferry records its verdicts (a note on the
// commit, through the one write path), that the seed's 1.0.0 is verified
// in qa: the seed is a person's commit, which ferry would otherwise
// analyse, racing the workload's first scrapes (NaN, Inconclusive) in
// some runs. With the note, every run tells the same story.
func (d *demo) seedVerdict(ctx context.Context, repo *fleet.Repo, digest string) error {
	d.gitMu.Lock()
	seed := d.seen.String()
	d.gitMu.Unlock()
	v := ledger.Verdict{App: "checkout", Env: "qa", Version: ledger.Version{Tag: "1.0.0", Digest: digest}, Analysis: "smoke",
		Verdict: ledger.Successful, Reason: "the demo's seed: 1.0.0 served qa before the story began"}
	err := publish.New(repo, publish.Options{Logger: d.log}).Note(ctx, seed, func(n ledger.Note) (ledger.Note, bool) {
		return n.With(v), true
	})
	if err != nil {
		return fmt.Errorf("record the seed's verdict in qa: %w", err)
	}
	return nil
}
