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

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/agent/trust/cosign"
)

// cosignCLI is the real cosign 3.1.3 (make e2e-setup builds it).
func cosignCLI(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FERRY_COSIGN")
	if bin == "" {
		t.Fatal("FERRY_COSIGN is unset: run make e2e-setup (it builds cosign 3.1.3 and make e2e passes its path)")
	}
	return bin
}

// runCosign runs the cosign CLI offline in dir: no TUF, no Rekor, no TSA.
func runCosign(t testing.TB, bin, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	// An empty password for the key pair; a HOME of its own so no cached
	// TUF root or config of the machine takes part.
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, ".sigstore"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cosign %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// offline are the flags cosign 3.1.3 needs to sign without any sigstore
// service: no transparency log, no signing config fetched over TUF, and the
// plain-HTTP registry on 127.0.0.1.
var offline = []string{"--tlog-upload=false", "--use-signing-config=false", "--allow-insecure-registry", "--yes"}

func TestCosignCLISignaturesVerify(t *testing.T) {
	bin := cosignCLI(t)
	reg := startRegistry(t, "", "")
	keys := t.TempDir()
	other := t.TempDir()
	runCosign(t, bin, keys, "generate-key-pair")
	runCosign(t, bin, other, "generate-key-pair")
	// cosign attest --type vuln takes the predicate as trivy --format
	// cosign-vuln writes it: the Trivy report is its scanner.result.
	trivy := `{"SchemaVersion":2,"ArtifactName":"shop/checkout","Results":[{"Target":"app","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-0001","Severity":"HIGH"}]}]}`
	predicate := `{"invocation":{"parameters":null,"uri":"","event_id":"","builder.id":""},` +
		`"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.1","version":"0.58.1","db":{"uri":"","version":""},"result":` + trivy + `},` +
		`"metadata":{"scanStartedOn":"2026-12-07T04:00:00Z","scanFinishedOn":"2026-12-07T04:00:09Z"}}`
	writeFile(t, filepath.Join(keys, "trivy.json"), predicate)
	writeFile(t, filepath.Join(other, "trivy.json"), predicate)

	pub := filepath.Join(keys, "cosign.pub")
	v, err := cosign.New(&config.CosignTrust{Keys: []string{pub}}, registry.NewClient(registry.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cosign.ParseKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := cosign.Fingerprint(k)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		format string // trust.Signature.Format
		flags  []string
	}{
		{"bundle", "bundle", nil},
		{"tag", "tag", []string{"--new-bundle-format=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := reg.host + "/shop/checkout-" + tc.name
			digest := reg.push(t, "shop/checkout-"+tc.name, "1.4.2")
			ref := repo + "@" + digest
			sign := append(append([]string{"sign", "--key", "cosign.key"}, tc.flags...), offline...)
			attest := append(append([]string{"attest", "--key", "cosign.key", "--type", "vuln", "--predicate", "trivy.json"}, tc.flags...), offline...)

			// Signed with another key only: refused, and why.
			runCosign(t, bin, other, append(sign, ref)...)
			runCosign(t, bin, other, append(attest, ref)...)
			start := time.Now()
			res, err := v.Verify(t.Context(), trust.Image{Repo: repo, Digest: digest})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("verify (other key only) took %v; problems: %q", time.Since(start), res.Problems)
			if res.Trusted() || len(res.Attestations) != 0 {
				t.Fatalf("signed by another key, yet trusted: %+v", res)
			}
			if !containsAll(res.Problems, "does not verify with any configured key", 2) {
				t.Errorf("problems %q do not say the key did not verify, twice (signature and attestation)", res.Problems)
			}

			// Then with the configured key: trusted, with the Trivy report.
			runCosign(t, bin, keys, append(sign, ref)...)
			runCosign(t, bin, keys, append(attest, ref)...)
			start = time.Now()
			res, err = v.Verify(t.Context(), trust.Image{Repo: repo, Digest: digest})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("verify took %v", time.Since(start))
			want := trust.Signature{Kind: trust.KindCosign, Signer: fp, Key: pub, Format: tc.format}
			if len(res.Signatures) != 1 || res.Signatures[0] != want {
				t.Fatalf("signatures %+v, want [%+v]; problems %q", res.Signatures, want, res.Problems)
			}
			if len(res.Attestations) != 1 {
				t.Fatalf("attestations %+v, want the vuln one; problems %q", res.Attestations, res.Problems)
			}
			a := res.Attestations[0]
			if a.Type != trust.AttestVuln || a.PredicateType != "https://cosign.sigstore.dev/attestation/vuln/v1" || a.Signer != want {
				t.Errorf("attestation %s %s by %+v, want vuln by %+v", a.Type, a.PredicateType, a.Signer, want)
			}
			var pred struct {
				Scanner struct {
					Result json.RawMessage `json:"result"`
				} `json:"scanner"`
			}
			if err := json.Unmarshal(a.Predicate, &pred); err != nil {
				t.Fatalf("predicate %s: %v", a.Predicate, err)
			}
			if !jsonEqual(t, pred.Scanner.Result, []byte(trivy)) {
				t.Errorf("predicate %s: scanner.result is not the Trivy report %s", a.Predicate, trivy)
			}
			// cosign itself agrees, as a process (the lead's comparison:
			// BenchmarkVerifyCosign is the in-process verification).
			start = time.Now()
			runCosign(t, bin, keys, append(append([]string{"verify", "--key", "cosign.pub", "--insecure-ignore-tlog", "--allow-insecure-registry"}, tc.flags...), ref)...)
			t.Logf("cosign verify (process) took %v", time.Since(start))
			// The other key's signature and attestation are still there,
			// and still refused.
			if !containsAll(res.Problems, "does not verify with any configured key", 2) {
				t.Errorf("problems %q lost the other key's refusals", res.Problems)
			}
		})
	}
}

func containsAll(ss []string, sub string, n int) bool {
	c := 0
	for _, s := range ss {
		if strings.Contains(s, sub) {
			c++
		}
	}
	return c >= n
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
