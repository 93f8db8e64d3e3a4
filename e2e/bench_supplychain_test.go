//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/agent/trust/cosign"
)

// BenchmarkVerifyCandidate is the cost of trusting one candidate: an image
// in the real registry signed and attested (a vuln scan) by the real cosign
// CLI, cosign 3's default bundles. ferry-first verifies it from scratch
// each time (every registry round trip); ferry-cached asks the agent's
// Checker, which verifies a digest once; cosign-verify runs `cosign verify`
// as a process, as a CI gate or an admission hook would, side by side.
func BenchmarkVerifyCandidate(b *testing.B) {
	bin := os.Getenv("FERRY_COSIGN")
	if bin == "" {
		b.Fatal("FERRY_COSIGN is unset: run make e2e-setup (it builds cosign 3.1.3); make bench passes its path")
	}
	reg := startRegistry(b, "", "")
	keys := b.TempDir()
	runCosign(b, bin, keys, "generate-key-pair")
	writeFile(b, filepath.Join(keys, "vuln.json"), `{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.1","version":"0.58.1",`+
		`"result":{"SchemaVersion":2,"ArtifactName":"shop/checkout","ArtifactType":"container_image","Results":[]}}}`)
	digest := reg.push(b, "shop/checkout", "1.4.2")
	repo := reg.host + "/shop/checkout"
	ref := repo + "@" + digest
	runCosign(b, bin, keys, append([]string{"sign", "--key", "cosign.key"}, append(offline, ref)...)...)
	runCosign(b, bin, keys, append([]string{"attest", "--key", "cosign.key", "--type", "vuln", "--predicate", "vuln.json"}, append(offline, ref)...)...)
	pub := filepath.Join(keys, "cosign.pub")
	cfg := &config.CosignTrust{Keys: []string{pub}}
	app := &config.App{Name: "checkout", Image: repo}
	client := registry.NewClient(registry.Options{RequestsPerSecond: -1})

	b.Run("ferry-first", func(b *testing.B) {
		v, err := cosign.New(cfg, client)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			res, err := v.Verify(b.Context(), trust.Image{Repo: repo, Digest: digest})
			if err != nil || !res.Trusted() || len(res.Attestations) != 1 {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("ferry-cached", func(b *testing.B) {
		v, err := cosign.New(cfg, client)
		if err != nil {
			b.Fatal(err)
		}
		c := trust.NewChecker(map[string][]trust.Verifier{"checkout": {v}})
		if _, err := c.Check(b.Context(), app, digest); err != nil { // the one verification
			b.Fatal(err)
		}
		for b.Loop() {
			if res, err := c.Check(b.Context(), app, digest); err != nil || !res.Trusted() {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("cosign-verify", func(b *testing.B) {
		for b.Loop() {
			cmd := exec.CommandContext(context.Background(), bin, "verify", "--key", pub, "--insecure-ignore-tlog", "--allow-insecure-registry", ref)
			cmd.Env = append(os.Environ(), "HOME="+keys, "TUF_ROOT="+filepath.Join(keys, ".sigstore"))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("cosign verify: %v\n%s", err, out)
			}
		}
	})
}
