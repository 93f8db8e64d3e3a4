//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// jenkinsfile is the CI example the README points at.
const jenkinsfile = "../docs/ci/Jenkinsfile"

// jenkinsEvidenceSteps returns the shell lines of the Jenkinsfile between
// its "ferry:evidence begin" and "ferry:evidence end" markers: the steps
// that involve ferry, read from the file itself so it cannot drift from
// what is tested.
func jenkinsEvidenceSteps(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(jenkinsfile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "# ferry:evidence begin\n")
	if !ok {
		t.Fatalf("%s has no '# ferry:evidence begin' marker", jenkinsfile)
	}
	block, _, ok := strings.Cut(rest, "# ferry:evidence end")
	if !ok {
		t.Fatalf("%s has no '# ferry:evidence end' marker", jenkinsfile)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) < 3 || !strings.Contains(block, "ferry evidence attach") {
		t.Fatalf("%s's evidence steps look wrong:\n%s", jenkinsfile, block)
	}
	return strings.Join(lines, "\n") + "\n"
}

// fsReport is a `trivy fs -f json` report of a Go source tree listing vulns.
func fsReport(t *testing.T, vulns ...vuln) []byte {
	t.Helper()
	type tv struct {
		VulnerabilityID, PkgName, InstalledVersion, FixedVersion, Severity string
	}
	list := []tv{}
	for _, v := range vulns {
		list = append(list, tv{v.id, v.pkg, v.installed, v.fixed, v.severity})
	}
	data, err := json.MarshalIndent(map[string]any{
		"SchemaVersion": 2,
		"CreatedAt":     "2026-11-25T17:08:02.51233Z",
		"ArtifactName":  ".",
		"ArtifactType":  "filesystem",
		"Results":       []any{map[string]any{"Target": "go.mod", "Class": "lang-pkgs", "Type": "gomod", "Vulnerabilities": list}},
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCIJenkinsfile runs docs/ci/Jenkinsfile's ferry steps, as they are
// written there, against the real distribution registry (no referrers
// API: the tag fallback). The steps needing tools that cannot run here are
// replaced, and only those: `docker buildx build` by an image pushed by
// digest with go-containerregistry (and its image.digest file written);
// `trivy fs`, `trivy image` (no vulnerability database download) and
// `sonar-scanner` (no SonarQube) by recorded outputs of their documented
// formats; `docker buildx imagetools create --tag` by a go-containerregistry
// tag; SonarQube by the e2e stand-in serving the documented Web API
// shapes. Then `ferry evidence ls` and the agent see both scans and the
// quality gate of the attached analysis: a CRITICAL finding in the source
// scan holds qa, a clean rebuild goes through.
func TestCIJenkinsfile(t *testing.T) {
	steps := jenkinsEvidenceSteps(t)
	reg := startRegistry(t, "", "")
	sonar := startSonar(t, "checkout", "squ_ci")
	tokenFile := filepath.Join(t.TempDir(), "sonar-token")
	if err := os.WriteFile(tokenFile, []byte("squ_ci\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fleet := startGatedFleet(t, reg.host, gated(devQA, sonarEvidence(sonar.url, tokenFile)))
	image := reg.host + "/shop/checkout"
	critical := vuln{"CVE-2026-7001", "golang.org/x/net", "CRITICAL", "v0.30.0", "v0.33.0"}

	release := func(version string, gatePassed bool, fsVulns ...vuln) (digest, output string) {
		t.Helper()
		// docker buildx build --output ...,push-by-digest=true: an image
		// with no tag yet, and the digest file the next stages read.
		img, err := random.Image(512, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digest = d.String()
		ref, err := name.NewDigest(image + "@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		ws := t.TempDir() // the job's workspace
		files := map[string][]byte{
			"image.digest":     []byte(digest + "\n"),
			"trivy-image.json": trivyReport(t, image+"@"+digest),
			"trivy-fs.json":    fsReport(t, fsVulns...),
			// sonar-scanner's upload: an analysis the stand-in serves, and
			// the report-task.txt naming its task. The image has no
			// revision label: only the attached task can bind a gate to it.
			".scannerwork/report-task.txt": []byte("projectKey=checkout\nserverUrl=" + sonar.url + "\nserverVersion=10.7.0.96327\n" +
				"dashboardUrl=" + sonar.url + "/dashboard?id=checkout\nceTaskId=" + sonar.analyse("unused-"+version, gatePassed) + "\n"),
		}
		for p, data := range files {
			if err := os.MkdirAll(filepath.Join(ws, filepath.Dir(p)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(ws, p), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		// The Jenkinsfile's own lines, as Jenkins's sh step runs them.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-xe", "-c", steps)
		cmd.Dir = ws
		cmd.Env = append(os.Environ(),
			"IMAGE="+image, "VERSION="+version,
			"PATH="+filepath.Dir(ferryBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"DOCKER_CONFIG="+t.TempDir(), // the registry here needs no login
		)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the Jenkinsfile's evidence steps failed: %v\n%s", err, out)
		}

		// docker buildx imagetools create --tag "$IMAGE:$VERSION" "$IMAGE@$DIGEST"
		tag, err := name.NewTag(image + ":" + version)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(tag, img); err != nil {
			t.Fatal(err)
		}
		return digest, string(out)
	}

	bad, out := release("1.0.0", false, critical)
	// The steps end with `ferry evidence ls`: its table is in the job's log.
	for _, want := range []string{"TYPE", "trivy  image", "trivy  fs", "CRITICAL=1 HIGH=0", "sonar", "project checkout, task AZtask"} {
		if !strings.Contains(out, want) {
			t.Errorf("the job's log lacks %q:\n%s", want, out)
		}
	}
	lsOut, errOut, code := runFerryIn(t, "", "evidence", "ls", image+"@"+bad, "-o", "json")
	if code != 0 {
		t.Fatalf("ferry evidence ls exited %d:\n%s", code, errOut)
	}
	var entries []struct {
		Type, Kind, Digest string
		Summary            map[string]int
	}
	if err := json.Unmarshal([]byte(lsOut), &entries); err != nil {
		t.Fatalf("evidence ls -o json: %v\n%s", err, lsOut)
	}
	kinds := map[string]int{}
	for _, e := range entries {
		kinds[e.Type+"/"+e.Kind] = e.Summary["CRITICAL"]
	}
	if len(entries) != 3 || kinds["trivy/image"] != 0 || kinds["trivy/fs"] != 1 || len(kinds) != 3 {
		t.Fatalf("ferry evidence ls: %s", lsOut)
	}

	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")
	step := planJSON(t, fleet, "checkout", "qa")
	if step.Action != "deny" || step.Decision == nil ||
		!containsAny(step.Decision.Deny, "CRITICAL vulnerabilities in the source of 1.0.0 (file-system scan): 1 (CVE-2026-7001)") {
		t.Fatalf("qa: want a deny naming the source scan's CVE-2026-7001, got %+v", step)
	}
	if !containsAny(step.Decision.Evidence, "trivy referrer ") || !containsAny(step.Decision.Evidence, "trivy fs referrer ") {
		t.Errorf("qa's decision does not show both scans: %q", step.Decision.Evidence)
	}
	// The quality gate is the attached task's analysis (failed for 1.0.0).
	if !containsAny(step.Decision.Evidence, "sonar checkout analysis AZe2e") || !containsAny(step.Decision.Evidence, "(task AZtask00000000000001): ERROR") {
		t.Errorf("qa's decision does not show the attached task's gate: %q", step.Decision.Evidence)
	}

	good, _ := release("1.1.0", true)
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout dev 1.1.0", "checkout qa 1.1.0")
	msg := fleet.git(t, "log", "-1", "--format=%B", "--grep=promote checkout 1.1.0 to qa", "main")
	for _, want := range []string{"Ferry-Digest: " + good, "Ferry-Evidence: trivy referrer sha256:", "Ferry-Evidence: trivy fs referrer sha256:",
		"Ferry-Evidence: sonar checkout analysis AZe2e000000000000002 (task AZtask00000000000002): OK"} {
		if !strings.Contains(msg, want) {
			t.Errorf("qa promotion commit lacks %q:\n%s", want, msg)
		}
	}
}
