package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/gate"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/internal/output"
	"github.com/ferry-dev/ferry/internal/text"
)

// evidenceTypes are the referrers ferry reads, in the order ls names them.
var evidenceTypes = []string{gate.TrivyReportType, gate.SARIFReportType, gate.SonarReportTaskType}

// registryFlags are the credentials and transport of the evidence
// commands: what `ferry run` takes from ferry.yaml's registry: block
// (dockerConfig, auth: {usernameFile, passwordFile}) and an app's
// insecure:, as flags, since CI has no ferry.yaml.
type registryFlags struct {
	dockerConfig string
	usernameFile string
	passwordFile string
	insecure     bool
	timeout      time.Duration
}

func (f *registryFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.dockerConfig, "docker-config", "", "Docker config.json with the registry's credentials (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json, when it exists)")
	fl.StringVar(&f.usernameFile, "username-file", "", "file holding the registry user name (with --password-file; wins over the Docker config)")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the registry password or token")
	fl.BoolVar(&f.insecure, "insecure", false, "plain HTTP for a registry that is not on loopback (loopback is HTTP already)")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long the registry calls may take together")
}

// client builds the registry client for the host of ref, with the
// credentials the flags name.
func (f *registryFlags) client(ref name.Reference) (*registry.Client, error) {
	basic := map[string]registry.Basic{}
	if (f.usernameFile == "") != (f.passwordFile == "") {
		return nil, errors.New("--username-file and --password-file go together")
	}
	if f.usernameFile != "" {
		user, err := config.ReadSecret(f.usernameFile)
		if err != nil {
			return nil, fmt.Errorf("--username-file: %w", err)
		}
		pass, err := config.ReadSecret(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		basic[ref.Context().RegistryStr()] = registry.Basic{Username: user, Password: pass}
	}
	kc, err := registry.Keychain(dockerConfigPath(f.dockerConfig), basic)
	if err != nil {
		return nil, err
	}
	return registry.NewClient(registry.Options{Keychain: kc, UserAgent: "ferry/" + version, LookupTimeout: f.timeout}), nil
}

// dockerConfigPath is the flag's file, or the one `docker login` writes
// when it exists: CI jobs log in to push, and the same login attaches.
func dockerConfigPath(flag string) string {
	if flag != "" {
		return flag
	}
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".docker")
	}
	p := filepath.Join(dir, "config.json")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// parseSubject splits IMAGE@DIGEST. A tag is refused: a tag can move
// between the scan and the attach, a digest cannot.
func parseSubject(arg string, insecure bool) (repo, digest string, ref name.Digest, err error) {
	repo, digest, ok := strings.Cut(arg, "@")
	if !ok {
		return "", "", name.Digest{}, fmt.Errorf("%s: name the image by digest, IMAGE@sha256:... (a tag can move; `docker buildx build --metadata-file` or `crane digest IMAGE:TAG` gives the digest)", arg)
	}
	if _, err := v1.NewHash(digest); err != nil {
		return "", "", name.Digest{}, fmt.Errorf("%s: bad digest: %w", arg, err)
	}
	// IMAGE:TAG@DIGEST is what `docker inspect` prints: the digest decides.
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	ref, err = name.NewDigest(repo+"@"+digest, opts...)
	if err != nil {
		return "", "", name.Digest{}, fmt.Errorf("%s: %w", arg, err)
	}
	return repo, digest, ref, nil
}

func evidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Attach scans to images and list them (OCI referrers), from CI",
		Long: `evidence hands a CI pipeline's scans to ferry: each is pushed as an OCI
referrer of the image's digest (the referrers API, or on registries without
it, such as distribution 2.8 and Nexus, the sha256-<hex> tag fallback), where
the agent reads it when evidence.trivy is {from: referrers}.`,
		Example: `  ferry evidence attach registry.example/shop/checkout@sha256:4f1d... --trivy trivy-image.json
  ferry evidence ls registry.example/shop/checkout@sha256:4f1d...`,
	}
	cmd.AddCommand(evidenceAttachCmd(g), evidenceLsCmd(g))
	return cmd
}

func evidenceAttachCmd(_ *globals) *cobra.Command {
	var (
		rf                        registryFlags
		trivyFile, sarif, sonarRT string
		kind                      string
	)
	cmd := &cobra.Command{
		Use:   "attach IMAGE@DIGEST (--trivy FILE | --sarif FILE | --sonar FILE) [--kind image|fs]",
		Short: "Attach a Trivy report, a SARIF log or a SonarQube report-task.txt to an image",
		Long: `attach checks the file, then pushes it as an OCI referrer of IMAGE@DIGEST:
--trivy takes 'trivy image|fs -f json' (SchemaVersion 2), --sarif
'trivy ... -f sarif', --sonar the report-task.txt sonar-scanner writes
(.scannerwork/report-task.txt), which binds the image to that analysis's
quality gate. A file that does not parse is refused with its name, line (or
field) and reason, and nothing is pushed. --kind says what a scan scanned:
image (the default; a report attached without it is the image scan) or fs,
the source tree; the policy sees them as input.evidence.trivy.image and .fs.
Credentials: the Docker config 'docker login' writes, or --username-file
and --password-file. It prints the referrer's digest.`,
		Example: `  ferry evidence attach registry.example/shop/checkout@sha256:4f1d... --trivy trivy-image.json
  ferry evidence attach registry.example/shop/checkout@sha256:4f1d... --trivy trivy-fs.json --kind fs
  ferry evidence attach registry.example/shop/checkout@sha256:4f1d... --sonar .scannerwork/report-task.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file, artifactType, err := attachInput(trivyFile, sarif, sonarRT, kind)
			if err != nil {
				return err
			}
			repo, digest, ref, err := parseSubject(args[0], rf.insecure)
			if err != nil {
				return err
			}
			data, err := readEvidenceFile(file)
			if err != nil {
				return err
			}
			annotations, what, err := checkEvidence(file, artifactType, kind, digest, data, func(w string) { fmt.Fprintln(cmd.ErrOrStderr(), w) })
			if err != nil {
				return err
			}
			client, err := rf.client(ref)
			if err != nil {
				return err
			}
			d, err := client.Attach(cmd.Context(), repo, digest, artifactType, data, annotations, rf.insecure)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "attached %s %s to %s@%s\n", what, file, repo, digest)
			fmt.Fprintln(cmd.OutOrStdout(), d)
			return nil
		},
	}
	cmd.Flags().StringVar(&trivyFile, "trivy", "", "a Trivy JSON report (trivy image|fs -f json)")
	cmd.Flags().StringVar(&sarif, "sarif", "", "a Trivy SARIF log (trivy image|fs -f sarif)")
	cmd.Flags().StringVar(&sonarRT, "sonar", "", "a SonarQube report-task.txt (sonar-scanner's .scannerwork/report-task.txt)")
	cmd.Flags().StringVar(&kind, "kind", "", "what the scan scanned: image (default) or fs (the source tree)")
	cmd.MarkFlagsMutuallyExclusive("trivy", "sarif", "sonar")
	cmd.MarkFlagsOneRequired("trivy", "sarif", "sonar")
	rf.add(cmd)
	return cmd
}

// attachInput picks the file and artifact type from the flags.
func attachInput(trivyFile, sarif, sonarRT, kind string) (file, artifactType string, err error) {
	switch {
	case trivyFile != "":
		file, artifactType = trivyFile, gate.TrivyReportType
	case sarif != "":
		file, artifactType = sarif, gate.SARIFReportType
	default:
		file, artifactType = sonarRT, gate.SonarReportTaskType
	}
	switch {
	case kind != "" && artifactType == gate.SonarReportTaskType:
		return "", "", errors.New("--kind is for scans (--trivy, --sarif), not --sonar")
	case kind != "" && kind != gate.KindImage && kind != gate.KindFS:
		return "", "", fmt.Errorf("--kind %q: want image or fs", kind)
	}
	return file, artifactType, nil
}

// readEvidenceFile reads at most what the agent would read back: a larger
// report would be refused at every decision, so it is refused here.
func readEvidenceFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, registry.DefaultMaxArtifactBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	if len(data) > registry.DefaultMaxArtifactBytes {
		return nil, fmt.Errorf("%s is over %d bytes, more than ferry reads of an attached report", file, registry.DefaultMaxArtifactBytes)
	}
	return data, nil
}

// scannedMatches refuses a report that says it scanned something else
// than what it is attached as: a source tree attached as the image scan
// (where it would stand in for a missing one), or an image as the source
// scan. A report whose RepoDigests do not name digest is only warned
// about: an image scanned before its push, or a multi-platform index
// scanned as one platform, names other digests for the same build.
func scannedMatches(sc trivy.Scanned, kind, digest string) (warning string, err error) {
	switch {
	case kind == gate.KindImage && (sc.Type == "filesystem" || sc.Type == "repository"):
		return "", fmt.Errorf("the report scanned a %s (ArtifactType %q), not the image: attach it with --kind fs", sc.Type, sc.Type)
	case kind == gate.KindFS && sc.Type == "container_image":
		return "", fmt.Errorf("the report scanned an image (ArtifactType %q), not a source tree: attach it without --kind fs", sc.Type)
	}
	if kind == gate.KindImage && len(sc.RepoDigests) > 0 && !slices.ContainsFunc(sc.RepoDigests, func(rd string) bool { return strings.HasSuffix(rd, "@"+digest) }) {
		return fmt.Sprintf("warning: the report scanned %s (Metadata.RepoDigests %s), whose digests are not %s; attached anyway",
			text.Truncate(sc.Name, 200), text.Truncate(strings.Join(sc.RepoDigests, ", "), 300), digest), nil
	}
	return "", nil
}

// checkEvidence parses data as artifactType, as the agent will, and
// returns the referrer's annotations and a few words on what it is.
func checkEvidence(file, artifactType, kind, digest string, data []byte, warn func(string)) (map[string]string, string, error) {
	annotations := map[string]string{"org.opencontainers.image.title": filepath.Base(file)}
	if artifactType == gate.SonarReportTaskType {
		rt, err := sonar.ParseReportTask(data)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", file, err)
		}
		return annotations, fmt.Sprintf("SonarQube report task %s of %s", rt.CETaskID, rt.ProjectKey), nil
	}
	// Each flag takes its own format: a SARIF log given as --trivy (or the
	// reverse) is a mix-up in the pipeline, said before it is pushed.
	sarifLog := bytes.Contains(data, []byte(`"runs"`)) && !bytes.Contains(data, []byte(`"SchemaVersion"`))
	switch {
	case artifactType == gate.TrivyReportType && sarifLog:
		return nil, "", fmt.Errorf("%s is a SARIF log: attach it with --sarif", file)
	case artifactType == gate.SARIFReportType && !sarifLog && bytes.Contains(data, []byte(`"SchemaVersion"`)):
		return nil, "", fmt.Errorf("%s is a Trivy JSON report: attach it with --trivy", file)
	}
	r, err := trivy.Parse(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	if kind == "" {
		kind = gate.KindImage
	}
	warning, err := scannedMatches(r.Scanned, kind, digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", file, err)
	}
	if warning != "" {
		warn(file + ": " + warning)
	}
	annotations[gate.KindAnnotation] = kind
	return annotations, fmt.Sprintf("Trivy %s scan (CRITICAL=%d HIGH=%d)", kind, r.Summary["CRITICAL"], r.Summary["HIGH"]), nil
}

// evidenceEntry is one line of `ferry evidence ls`.
type evidenceEntry struct {
	Type         string         `json:"type"` // trivy, sarif or sonar
	ArtifactType string         `json:"artifactType"`
	Kind         string         `json:"kind,omitempty"` // image or fs, for scans
	Digest       string         `json:"digest"`
	Created      string         `json:"created,omitempty"`
	Summary      map[string]int `json:"summary,omitempty"` // scans: findings per severity
	ProjectKey   string         `json:"projectKey,omitempty"`
	TaskID       string         `json:"ceTaskId,omitempty"`
	// Error says why ferry cannot read this one; the agent would refuse it.
	Error string `json:"error,omitempty"`
}

func (e evidenceEntry) line() string {
	switch {
	case e.Error != "":
		return "unreadable: " + e.Error
	case e.Type == "sonar":
		return fmt.Sprintf("project %s, task %s", e.ProjectKey, e.TaskID)
	}
	return fmt.Sprintf("CRITICAL=%d HIGH=%d MEDIUM=%d LOW=%d", e.Summary["CRITICAL"], e.Summary["HIGH"], e.Summary["MEDIUM"], e.Summary["LOW"])
}

func evidenceLsCmd(_ *globals) *cobra.Command {
	var rf registryFlags
	cmd := &cobra.Command{
		Use:   "ls IMAGE@DIGEST [-o json]",
		Short: "List the scans and report tasks attached to an image that ferry reads",
		Long: `ls lists the referrers of IMAGE@DIGEST that ferry reads (Trivy JSON, SARIF,
SonarQube report-task.txt), newest first: type, kind, digest, created, and
a summary (findings per severity; the Sonar project and task id). The
newest scan of each kind is the one the agent judges.`,
		Example: `  ferry evidence ls registry.example/shop/checkout@sha256:4f1d...
  ferry evidence ls registry.example/shop/checkout@sha256:4f1d... -o json`,
		Args: cobra.ExactArgs(1),
	}
	format := output.AddFlag(cmd)
	rf.add(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		repo, digest, ref, err := parseSubject(args[0], rf.insecure)
		if err != nil {
			return err
		}
		client, err := rf.client(ref)
		if err != nil {
			return err
		}
		arts, err := client.Referrers(cmd.Context(), repo, digest, evidenceTypes, 0, rf.insecure)
		if err != nil {
			return err
		}
		entries := make([]evidenceEntry, 0, len(arts))
		for _, a := range arts {
			entries = append(entries, describeEvidence(a))
		}
		return format.Print(cmd.OutOrStdout(), entries, func(w io.Writer) error {
			if len(entries) == 0 {
				_, err := fmt.Fprintf(w, "no evidence ferry reads is attached to %s@%s\n", repo, digest)
				return err
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tKIND\tDIGEST\tCREATED\tSUMMARY")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Type, orDash(e.Kind), e.Digest, orDash(e.Created), e.line())
			}
			return tw.Flush()
		})
	}
	return cmd
}

func describeEvidence(a registry.Artifact) evidenceEntry {
	e := evidenceEntry{ArtifactType: a.ArtifactType, Digest: a.Digest}
	if !a.Created.IsZero() {
		e.Created = a.Created.UTC().Format(time.RFC3339)
	}
	switch a.ArtifactType {
	case gate.SonarReportTaskType:
		e.Type = "sonar"
		rt, err := sonar.ParseReportTask(a.Data)
		if err != nil {
			e.Error = err.Error()
			return e
		}
		e.ProjectKey, e.TaskID = rt.ProjectKey, rt.CETaskID
		return e
	case gate.SARIFReportType:
		e.Type = "sarif"
	default:
		e.Type = "trivy"
	}
	e.Kind = gate.ScanKind(a.Annotations)
	r, err := trivy.Parse(a.Data)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	e.Summary = r.Summary
	return e
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
