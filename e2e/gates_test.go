//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/policies"
)

// gatedConfig is one app whose Trivy report is read from its referrers;
// EVIDENCE and ENVS are filled in per test.
const gatedConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  branch: main
  author: {name: ferry, email: ferry@example.com}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
    evidence:
      trivy: {from: referrers}
EVIDENCE
environments:
ENVS
`

const devQA = `  - {name: dev, overlay: overlays/dev, auto: true}
  - {name: qa,  overlay: overlays/qa,  from: dev, auto: true}`

// sonarEvidence is the evidence.sonar line of gatedConfig.
func sonarEvidence(url, tokenFile string) string {
	return "      sonar: {url: " + strconv.Quote(url) + ", projectKey: checkout, tokenFile: " + strconv.Quote(tokenFile) + "}\n"
}

func gated(envs, evidence string) string {
	return strings.NewReplacer("ENVS", envs, "EVIDENCE\n", evidence).Replace(gatedConfig)
}

// criticalOpenSSL is the finding of the report that fails qa; policyHash is
// the shape of the Ferry-Policy trailer.
var (
	criticalOpenSSL = vuln{"CVE-2026-0001", "openssl", "CRITICAL", "3.0.8", "3.0.9"}
	policyHash      = regexp.MustCompile(`(?m)^Ferry-Policy: sha256:[0-9a-f]{64}$`)
)

// TestGateTrivyCritical: a CRITICAL finding in the attached report stops the
// move to qa (dev has no gate), the plan says why in text and JSON, and a
// clean rebuild goes through with the decision and its evidence in the
// commit's trailers.
func TestGateTrivyCritical(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startGatedFleet(t, reg.host, gated(devQA, ""))
	bad := reg.push(t, "shop/checkout", "1.0.0")
	reg.attach(t, "shop/checkout", bad, trivyReportType, trivyReport(t, reg.host+"/shop/checkout:1.0.0", criticalOpenSSL))

	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")

	text, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, text)
	}
	for _, want := range []string{"checkout 1.0.0@" + bad[:19] + " -> qa: deny", "deny: CRITICAL vulnerabilities in 1.0.0: 1 (CVE-2026-0001)"} {
		if !strings.Contains(text, want) {
			t.Errorf("ferry plan lacks %q:\n%s", want, text)
		}
	}
	step := planJSON(t, fleet, "checkout", "qa")
	if step.Action != "deny" || step.Candidate.Digest != bad || step.Decision == nil || step.Decision.Allow ||
		!containsAny(step.Decision.Deny, "CVE-2026-0001") {
		t.Fatalf("plan -o json step for qa: want a deny of %s naming CVE-2026-0001, got %+v", bad, step)
	}
	deniedBy := step.Decision.Policy

	good := reg.push(t, "shop/checkout", "1.1.0")
	report := reg.attach(t, "shop/checkout", good, trivyReportType, trivyReport(t, reg.host+"/shop/checkout:1.1.0"))
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout dev 1.1.0", "checkout qa 1.1.0")
	msg := fleet.git(t, "log", "-1", "--format=%B", "--grep=promote checkout 1.1.0 to qa", "main")
	for _, want := range []string{
		"Ferry-Digest: " + good,
		"Ferry-Decision: allow",
		"Ferry-Policy: " + deniedBy, // the same policy files judged both
		"Ferry-Evidence: trivy referrer " + report + ": CRITICAL=0 HIGH=0",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("qa promotion commit lacks %q:\n%s", want, msg)
		}
	}
	if !policyHash.MatchString(msg) {
		t.Errorf("qa promotion commit has no Ferry-Policy: sha256:<hex> trailer:\n%s", msg)
	}
	if k := fleet.show(t, "overlays/qa/kustomization.yaml"); !strings.Contains(k, "digest: "+good) || strings.Contains(k, bad) {
		t.Errorf("qa runs something other than %s:\n%s", good, k)
	}
}

// TestGateNoReportFailsClosed: an image with no Trivy report, only an
// unrelated referrer (an SBOM), is denied at qa.
func TestGateNoReportFailsClosed(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startGatedFleet(t, reg.host, gated(devQA, ""))
	d := reg.push(t, "shop/checkout", "1.0.0")
	reg.attach(t, "shop/checkout", d, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3","name":"checkout"}`))

	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")
	step := planJSON(t, fleet, "checkout", "qa")
	if step.Action != "deny" || step.Decision == nil || !containsAny(step.Decision.Deny, "no Trivy report for 1.0.0") {
		t.Fatalf("qa step: want a deny saying there is no Trivy report, got %+v", step)
	}
	if !containsAny(step.Decision.Notes, "no Trivy report is attached") {
		t.Errorf("qa step does not note the missing referrer: %+v", step.Decision.Notes)
	}
}

// TestGateSonarError: a failed SonarQube quality gate for the image's
// revision stops the move to ppd and the plan names the failing conditions;
// a later build whose gate passed loses the Sonar reason and, since qa has
// no analysis: (a team with Trivy and Sonar but no Prometheus, issue 14),
// reaches ppd: the default policy waits for no qa verdict that never comes.
func TestGateSonarError(t *testing.T) {
	const token = "squ_e2e-sonar-token-0123456789"
	sonar := startSonar(t, "checkout", token)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "sonar-token"), token+"\n")
	reg := startRegistry(t, "", "")
	evidence := sonarEvidence(sonar.url, tokenFile)
	fleet := startGatedFleet(t, reg.host, gated(`  - {name: qa,  overlay: overlays/qa,  auto: true}
  - {name: ppd, overlay: overlays/ppd, from: qa, auto: true}`, evidence))

	const failedRev, passedRev = "c0ffee4d2a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d", "5758e8ff42879ea60bcbfc54a594e32fc54b09e3"
	sonar.analyse(failedRev, false)
	d1 := reg.pushRevision(t, "shop/checkout", "1.0.0", failedRev)
	reg.attach(t, "shop/checkout", d1, trivyReportType, trivyReport(t, "shop/checkout:1.0.0"))

	out := runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout qa 1.0.0")
	text, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, text)
	}
	for _, want := range []string{"-> ppd: deny", "deny: SonarQube quality gate is ERROR for 1.0.0", "new_coverage is ERROR (actual 62.50562381034781, threshold 80)"} {
		if !strings.Contains(text, want) {
			t.Errorf("ferry plan lacks %q:\n%s", want, text)
		}
	}
	step := planJSON(t, fleet, "checkout", "ppd")
	if step.Action != "deny" || step.Decision == nil ||
		!containsAny(step.Decision.Deny, "new_coverage is ERROR") || !containsAny(step.Decision.Deny, "new_security_rating is ERROR (actual 3, threshold 1)") {
		t.Fatalf("ppd step: want a deny naming new_coverage and new_security_rating, got %+v", step)
	}
	if containsAny(step.Decision.Deny, "new_duplicated_lines_density") {
		t.Errorf("a passing condition is named as failing: %q", step.Decision.Deny)
	}

	sonar.analyse(passedRev, true)
	d2 := reg.pushRevision(t, "shop/checkout", "1.1.0", passedRev)
	reg.attach(t, "shop/checkout", d2, trivyReportType, trivyReport(t, "shop/checkout:1.1.0"))
	step = planJSON(t, fleet, "checkout", "ppd")
	if step.Candidate.Digest != d2 || step.Decision == nil {
		t.Fatalf("ppd step: want a decision on %s, got %+v", d2, step)
	}
	if len(step.Decision.Deny) != 0 || step.Action != "promote" {
		t.Errorf("ppd is still denied with a passed gate and no qa analysis configured: %s %q", step.Action, step.Decision.Deny)
	}
	if !containsAny(step.Decision.Evidence, "sonar checkout analysis AZe2e000000000000002: OK") {
		t.Errorf("ppd decision does not cite the passed analysis: %q", step.Decision.Evidence)
	}
	out += runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout qa 1.0.0", "checkout qa 1.1.0", "checkout ppd 1.1.0")
	if n := sonar.refusedRequests(); n != 0 {
		t.Errorf("the SonarQube stand-in refused %d requests: ferry did not send the token", n)
	}
	if strings.Contains(out+text, token) {
		t.Errorf("the Sonar token appears in ferry's output")
	}
}

// TestGateSoak: prod takes a version only after it ran soak (3s) in ppd,
// counted from the person's commit that put it there; dr follows prod.
func TestGateSoak(t *testing.T) {
	const token = "squ_soak-token"
	const rev = "6f1c2a9e0b7d4c3e8f5a6b7c8d9e0f1a2b3c4d5e"
	sonar := startSonar(t, "checkout", token)
	sonar.analyse(rev, true)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "sonar-token"), token)
	reg := startRegistry(t, "", "")
	evidence := sonarEvidence(sonar.url, tokenFile)
	fleet := startGatedFleet(t, reg.host, gated(devQA+`
  - {name: ppd,  overlay: overlays/ppd,  from: qa}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true, soak: 3s}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}`, evidence))
	d := reg.pushRevision(t, "shop/checkout", "1.0.0", rev)
	reg.attach(t, "shop/checkout", d, trivyReportType, trivyReport(t, "shop/checkout:1.0.0"))

	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout qa 1.0.0") // ppd is promoted by people

	fleet.humanCommit(t, "ppd: checkout 1.0.0 after the release review", func(dir string) {
		p := filepath.Join(dir, "overlays/ppd/kustomization.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k := strings.Replace(string(b), "newTag: 0.0.0 # set by ferry", "newTag: 1.0.0\n  digest: "+d, 1)
		if err := os.WriteFile(p, []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	committed, err := strconv.ParseInt(strings.TrimSpace(fleet.git(t, "log", "-1", "--format=%ct", "main")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	out := runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout qa 1.0.0")
	if !strings.Contains(out, "in ppd, prod needs 3s") {
		t.Fatalf("prod was not denied for its soak:\n%s", out)
	}
	if strings.Contains(out, "SonarQube") || strings.Contains(out, "Trivy") || strings.Contains(out, "HIGH or CRITICAL") {
		t.Errorf("prod was denied for more than its soak:\n%s", out)
	}

	soaked := time.Unix(committed, 0).Add(3 * time.Second)
	time.Sleep(time.Until(soaked))
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout qa 1.0.0", "checkout prod 1.0.0", "checkout dr 1.0.0")
	msg := fleet.git(t, "log", "-1", "--format=%B", "--grep=promote checkout 1.0.0 to prod", "main")
	for _, want := range []string{"Ferry-From: ppd", "Ferry-Decision: allow", "Ferry-Evidence: soak ppd ", "Ferry-Evidence: sonar checkout analysis AZe2e000000000000001: OK"} {
		if !strings.Contains(msg, want) {
			t.Errorf("prod promotion commit lacks %q:\n%s", want, msg)
		}
	}
	if k := fleet.show(t, "overlays/dr/kustomization.yaml"); !strings.Contains(k, "digest: "+d) {
		t.Errorf("dr does not mirror prod's %s:\n%s", d, k)
	}
}

// TestPolicyCommands: ferry policy test, eval and input as a policy author
// uses them.
func TestPolicyCommands(t *testing.T) {
	t.Run("test", func(t *testing.T) {
		out, errOut, code := runFerryIn(t, "..", "policy", "test", "policies")
		if code != 0 || !strings.Contains(out, "PASS") {
			t.Fatalf("ferry policy test policies: exit %d, want 0 and PASS:\n%s%s", code, out, errOut)
		}
	})

	t.Run("test-typo", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "policies")
		typoLine := 0
		for p, data := range policies.DefaultFiles() {
			if p == "qa.rego" {
				lines := strings.Split(string(data), "\n")
				for i, l := range lines {
					if strings.Contains(l, "input.evidence.trivy.summary.CRITICAL") {
						lines[i] = strings.Replace(l, "input.evidence.trivy", "input.evidence.trivvy", 1)
						typoLine = i + 1
					}
				}
				data = []byte(strings.Join(lines, "\n"))
			}
			writeFile(t, filepath.Join(dir, p), string(data))
		}
		if typoLine == 0 {
			t.Fatal("qa.rego no longer reads input.evidence.trivy.summary.CRITICAL: pick another rule for the typo")
		}
		out, errOut, code := runFerryIn(t, filepath.Dir(dir), "policy", "test", "policies")
		where := "policies/qa.rego:" + strconv.Itoa(typoLine) + ":"
		if code != 2 || !strings.Contains(out+errOut, where) {
			t.Fatalf("policy test with a typo: exit %d, want 2 and an error naming %s:\n%s%s", code, where, out, errOut)
		}
	})

	t.Run("eval", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			fixed     string
			wantAllow bool
		}{
			{"fixable-high", "3.0.10", false},
			{"high-without-fix", "", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				input := prodInput(vuln{"CVE-2026-0002", "libssl3", "HIGH", "3.0.8", tc.fixed})
				file := writeFile(t, filepath.Join(t.TempDir(), "input.json"), input)
				out, errOut, code := runFerryIn(t, "", "policy", "eval", "--input", file, "--policies", "../policies", "-o", "json")
				if code != 0 {
					t.Fatalf("policy eval exited %d:\n%s%s", code, out, errOut)
				}
				var d struct {
					Allow *bool    `json:"allow"`
					Deny  []string `json:"deny"`
				}
				if err := json.Unmarshal([]byte(out), &d); err != nil || d.Allow == nil {
					t.Fatalf("policy eval -o json printed no decision (%v):\n%s", err, out)
				}
				if *d.Allow != tc.wantAllow {
					t.Fatalf("allow = %v, want %v; deny %q", *d.Allow, tc.wantAllow, d.Deny)
				}
				if !tc.wantAllow && (len(d.Deny) != 1 || !strings.Contains(d.Deny[0], "CVE-2026-0002 in libssl3 (fixed in 3.0.10)")) {
					t.Fatalf("deny: want only the fixable CVE-2026-0002, got %q", d.Deny)
				}
				if !tc.wantAllow && !strings.Contains(out, `"allow": false`) {
					t.Errorf(`output lacks "allow": false:\n%s`, out)
				}
			})
		}
	})

	t.Run("input", func(t *testing.T) {
		reg := startRegistry(t, "", "")
		fleet := startGatedFleet(t, reg.host, gated(devQA, ""))
		d := reg.push(t, "shop/checkout", "1.0.0")
		reg.attach(t, "shop/checkout", d, trivyReportType, trivyReport(t, "shop/checkout:1.0.0", criticalOpenSSL))
		runOnce(t, fleet)

		out, errOut, code := runFerryIn(t, "", "policy", "input", "checkout", "qa", "--config", fleet.url, "--work-dir", t.TempDir())
		if code != 0 {
			t.Fatalf("policy input exited %d:\n%s%s", code, out, errOut)
		}
		var in struct {
			Candidate struct {
				Digest string `json:"digest"`
			} `json:"candidate"`
			Environment struct {
				Name string `json:"name"`
				From string `json:"from"`
			} `json:"environment"`
			Evidence struct {
				Trivy *struct {
					Summary map[string]int `json:"summary"`
				} `json:"trivy"`
			} `json:"evidence"`
		}
		if err := json.Unmarshal([]byte(out), &in); err != nil {
			t.Fatalf("policy input printed no JSON document (%v):\n%s", err, out)
		}
		if in.Candidate.Digest != d || in.Environment.Name != "qa" || in.Environment.From != "dev" ||
			in.Evidence.Trivy == nil || in.Evidence.Trivy.Summary["CRITICAL"] != 1 {
			t.Fatalf("policy input: want qa's candidate %s with one CRITICAL finding, got:\n%s", d, out)
		}
		// The documented round trip: the input ferry printed, judged by eval.
		file := writeFile(t, filepath.Join(t.TempDir(), "input.json"), out)
		ev, errOut, code := runFerryIn(t, "", "policy", "eval", "--input", file, "--policies", "../policies")
		if code != 0 || !strings.HasPrefix(ev, "deny\n") || !strings.Contains(ev, "CVE-2026-0001") {
			t.Fatalf("policy eval of ferry's own input: exit %d, want deny naming CVE-2026-0001:\n%s%s", code, ev, errOut)
		}
	})
}

// TestBrokenPolicyStopsPromotions: a policy that does not compile stops every
// promotion, with an error naming its file and line, until it is fixed.
func TestBrokenPolicyStopsPromotions(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startGatedFleet(t, reg.host, gated(devQA, ""))
	const bad = `package ferry.promotion

deny contains msg if {
	input.environment.name == "qa"
	msg := no_such_helper(input.candidate.version)
}
`
	fleet.humanCommit(t, "policies: a rule calling an undefined function", func(dir string) {
		writeFile(t, filepath.Join(dir, "policies/bad.rego"), bad)
		gitAdd(t, dir, "policies/bad.rego")
	})
	d := reg.push(t, "shop/checkout", "1.0.0")
	reg.attach(t, "shop/checkout", d, trivyReportType, trivyReport(t, "shop/checkout:1.0.0"))
	head := fleet.git(t, "rev-parse", "main")

	out, code := runFerry(t, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
	if code == 0 {
		t.Fatalf("ferry run --once with a broken policy exited 0:\n%s", out)
	}
	if !strings.Contains(out, "policies/bad.rego:5") {
		t.Errorf("the error does not name policies/bad.rego:5:\n%s", out)
	}
	if after := fleet.git(t, "rev-parse", "main"); after != head {
		t.Fatalf("a pass with a broken policy wrote to the fleet repo:\n%s", fleet.git(t, "log", "--oneline", head+"..main"))
	}

	fleet.humanCommit(t, "policies: drop bad.rego", func(dir string) {
		if err := os.Remove(filepath.Join(dir, "policies/bad.rego")); err != nil {
			t.Fatal(err)
		}
	})
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout qa 1.0.0")
}
