//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// supplyChainJenkinsfile is the signing CI example the README points at.
const supplyChainJenkinsfile = "../docs/ci/Jenkinsfile.supply-chain"

// supplyChainConfig is the README's Supply chain configuration: one app
// whose images must carry the team's cosign signature, whose production
// gate wants provenance from the Jenkins job, with the Sonar gate the
// default production policy asks for. KEY, SONAR and TOKEN are filled in.
const supplyChainConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
    verify:
      cosign:
        keys: [KEY]
      builders: [https://jenkins.example/job/checkout]
    evidence:
      sonar: {url: SONAR, projectKey: checkout, tokenFile: TOKEN}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, soak: 1s}
`

// markedLines returns the shell lines of file between "# MARKER begin"
// and "# MARKER end", trimmed, as CI would run them.
func markedLines(t *testing.T, file, marker string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "# "+marker+" begin\n")
	if !ok {
		t.Fatalf("%s has no '# %s begin' marker", file, marker)
	}
	block, _, ok := strings.Cut(rest, "# "+marker+" end")
	if !ok {
		t.Fatalf("%s has no '# %s end' marker", file, marker)
	}
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// cosignKeyPair runs `cosign generate-key-pair` in dir and returns the
// private and public key files.
func cosignKeyPair(t *testing.T, cosign, dir, password string) (priv, pub string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	return filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
}

// cosignVuln is what `trivy image --format cosign-vuln` writes: the Trivy
// report inside cosign's vuln predicate.
func cosignVuln(t *testing.T, artifact string, vulns ...vuln) []byte {
	t.Helper()
	var report any
	if err := json.Unmarshal(trivyReport(t, artifact, vulns...), &report); err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{
		"invocation": map[string]any{"parameters": nil, "uri": "", "event_id": "", "builder.id": ""},
		"scanner":    map[string]any{"uri": "pkg:github/aquasecurity/trivy@0.58.1", "version": "0.58.1", "db": map[string]any{"uri": "", "version": ""}, "result": report},
		"metadata":   map[string]any{"scanStartedOn": "2026-12-07T05:00:00Z", "scanFinishedOn": "2026-12-07T05:00:04Z"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSupplyChainJenkinsfile runs the signing steps of
// docs/ci/Jenkinsfile.supply-chain, as written there, with the real cosign
// CLI against the real distribution registry (no referrers API: cosign 3
// stores its bundles under the sha256-<hex> tag). Replaced, and only
// those: docker buildx (an image pushed with go-containerregistry), trivy
// (a recorded cosign-vuln output), and the registry's TLS (a cosign
// wrapper adds --allow-insecure-registry for the plain-HTTP loopback
// registry). Then ferry, configured as the README's Supply chain section
// shows, must:
//   - promote the signed build, with a Ferry-Signed-By trailer and its
//     attestations as evidence, to dev and then prod;
//   - pass over an unsigned tag and one signed by another key, newer ones,
//     and say why in ferry plan;
//   - hold prod for a build whose provenance names another builder;
//   - deny, before any policy, an unsigned version a person wrote into dev.
func TestSupplyChainJenkinsfile(t *testing.T) {
	cosign := cosignCLI(t)
	steps := markedLines(t, supplyChainJenkinsfile, "ferry:supply-chain")
	keys := t.TempDir()
	const password = "e2e-cosign-password"
	teamKey, teamPub := cosignKeyPair(t, cosign, filepath.Join(keys, "team"), password)
	otherKey, _ := cosignKeyPair(t, cosign, filepath.Join(keys, "other"), password)
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "cosign"), "#!/bin/sh\nexec "+cosign+` "$@" --allow-insecure-registry`+"\n")
	if err := os.Chmod(filepath.Join(bin, "cosign"), 0o755); err != nil {
		t.Fatal(err)
	}

	const token = "squ_e2e-supply-chain-0123456789"
	sonar := startSonar(t, "checkout", token)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "sonar-token"), token+"\n")
	reg := startRegistry(t, "", "")
	cfg := strings.NewReplacer("KEY", teamPub, "SONAR", sonar.url, "TOKEN", tokenFile).Replace(supplyChainConfig)
	fleet := startGatedFleet(t, reg.host, cfg)
	image := reg.host + "/shop/checkout"

	builds := 0
	// release builds version, signs and attests it with key as the
	// Jenkinsfile does (no key: not signed at all) on a Jenkins at
	// jenkinsURL, and tags it last.
	release := func(version, key, jenkinsURL string) string {
		t.Helper()
		builds++
		rev := fmt.Sprintf("%040x", builds)
		sonar.analyse(rev, true)
		digest := reg.pushRevision(t, "shop/checkout", "ci-build-"+version, rev)
		ws := t.TempDir()
		writeFile(t, filepath.Join(ws, "image.digest"), digest+"\n")
		writeFile(t, filepath.Join(ws, "trivy-vuln.json"), string(cosignVuln(t, image+"@"+digest)))
		if key != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "sh", "-xe", "-c", steps)
			cmd.Dir = ws
			cmd.Env = append(os.Environ(), "IMAGE="+image, "COSIGN_KEY="+key, "COSIGN_PASSWORD="+password,
				"JENKINS_URL="+jenkinsURL, "JOB_NAME=checkout", "BUILD_URL="+jenkinsURL+"job/checkout/"+fmt.Sprint(builds)+"/",
				"GIT_URL=https://git.example/shop/checkout.git", "GIT_COMMIT="+rev,
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "DOCKER_CONFIG="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the Jenkinsfile's signing steps failed for %s: %v\n%s", version, err, out)
			}
		}
		src, err := name.NewDigest(image + "@" + digest)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(src)
		if err != nil {
			t.Fatal(err)
		}
		img, err := desc.Image()
		if err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(image + ":" + version)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(tag, img); err != nil {
			t.Fatal(err)
		}
		return digest
	}

	// A key file that does not exist stops the agent at start, naming it.
	broken := startGatedFleet(t, reg.host, strings.Replace(cfg, teamPub, filepath.Join(keys, "no-such.pub"), 1))
	if out, code := runFerry(t, "run", "--once", "--config", broken.url, "--work-dir", t.TempDir()); code == 0 || !strings.Contains(out, "no-such.pub") {
		t.Fatalf("a missing key file: exit %d, want a failure naming it:\n%s", code, out)
	}

	const trusted, rogue = "https://jenkins.example/", "https://rogue.example/"
	release("1.0.0", teamKey, trusted)
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")
	msg := fleet.git(t, "log", "-1", "--format=%B", "main")
	signedBy := regexp.MustCompile(`(?m)^Ferry-Signed-By: cosign SHA256:[A-Za-z0-9+/]+ \(` + regexp.QuoteMeta(teamPub) + `\)$`)
	if !signedBy.MatchString(msg) {
		t.Errorf("dev's promotion lacks the Ferry-Signed-By trailer of the team key:\n%s", msg)
	}
	for _, want := range []string{"Ferry-Evidence: attestation vuln signed by cosign SHA256:", "Ferry-Evidence: attestation slsaprovenance signed by cosign SHA256:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("dev's promotion lacks %q:\n%s", want, msg)
		}
	}
	time.Sleep(1100 * time.Millisecond) // prod's soak: 1s in dev
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout prod 1.0.0")

	// Newer, but not trusted: never a candidate, and the plan says why.
	d110 := release("1.1.0", "", trusted)
	release("1.2.0", otherKey, trusted)
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout prod 1.0.0")
	text, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, text)
	}
	for _, want := range []string{"checkout: tags not trusted (no signature that verifies)", "untrusted: 1.2.0: ", "untrusted: 1.1.0: "} {
		if !strings.Contains(text, want) {
			t.Errorf("ferry plan lacks %q:\n%s", want, text)
		}
	}

	// Signed by the team, but built elsewhere: dev takes it, prod does not.
	d130 := release("1.3.0", teamKey, rogue)
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0", "checkout prod 1.0.0", "checkout dev 1.3.0")
	time.Sleep(1100 * time.Millisecond)
	step := planJSON(t, fleet, "checkout", "prod")
	if step.Action != "deny" || step.Decision == nil ||
		!containsAny(step.Decision.Deny, "1.3.0 was built by https://rogue.example/job/checkout, which is not a builder verify.builders trusts") {
		t.Fatalf("prod: want a denial naming the rogue builder, got %+v", step)
	}

	// A person puts the unsigned 1.1.0 into dev: prod's gate refuses it
	// before any policy, naming what failed.
	fleet.humanCommit(t, "human: try 1.1.0 in dev", func(dir string) {
		p := filepath.Join(dir, "overlays/dev/kustomization.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "1.3.0", "1.1.0", 1)
		s = strings.Replace(s, d130, d110, 1)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	step = planJSON(t, fleet, "checkout", "prod")
	if step.Action != "deny" || step.Decision == nil || len(step.Decision.Deny) == 0 ||
		!strings.HasPrefix(step.Decision.Deny[0], "checkout 1.1.0 (") || !strings.Contains(step.Decision.Deny[0], "carries no signature that verifies") {
		t.Fatalf("prod: want the untrusted denial first for a person's unsigned 1.1.0, got %+v", step)
	}
}
