//go:build e2e

package e2e

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature/jws"

	"github.com/ferry-dev/ferry/agent/trust/notation/notationtest"
)

// notationConfig is an app whose images must carry a Notation signature
// that verifies under notation's own trust policy and trust store (POLICY
// and STORE are filled in); prod soaks an hour in dev, so one pass moves
// only dev.
const notationConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
    verify:
      notation: {trustPolicy: POLICY, trustStore: STORE}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true, soak: 1h}
`

// notationIdentity is the trustedIdentities entry of cert's subject, in
// notation's "x509.subject: C=.., ST=.., O=.., CN=.." syntax.
func notationIdentity(cert *x509.Certificate) string {
	s := cert.Subject
	return fmt.Sprintf("x509.subject: C=%s, ST=%s, O=%s, CN=%s", s.Country[0], s.Province[0], s.Organization[0], s.CommonName)
}

// TestSupplyChainNotation: ferry, with verify.notation naming notation's
// trustpolicy.json and trust store, takes only a tag whose Notation
// signature (made by notation-go's own signer, pushed to the real
// distribution registry) verifies:
//   - 1.0.0, signed by the trusted leaf, is promoted to dev, with a
//     Ferry-Signed-By trailer naming the leaf and the store's root;
//   - 1.1.0 (unsigned) and 1.2.0 (signed under another CA), newer, are
//     passed over, and ferry plan says why;
//   - a trust policy that does not parse stops the agent, naming the file;
//   - an unsigned 1.1.0 a person writes into dev is denied for prod
//     before any policy, the untrusted reason first.
func TestSupplyChainNotation(t *testing.T) {
	reg := startRegistry(t, "", "")
	const repo = "shop/checkout"
	image := reg.host + "/" + repo

	shopCA := notationtest.NewCA(t, "Shop Root CA", "shop")
	releaseKey, release := shopCA.Leaf(t, "release", "shop", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	rogueCA := notationtest.NewCA(t, "Rogue Root CA", "shop")
	rogueKey, rogue := rogueCA.Leaf(t, "release", "shop", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)) // the same subject, another root

	trustDir := t.TempDir()
	store := filepath.Join(trustDir, "truststore")
	shopCA.WriteStore(t, store, "shop")
	policy := writeFile(t, filepath.Join(trustDir, "trustpolicy.json"), fmt.Sprintf(`{
  "version": "1.0",
  "trustPolicies": [
    {
      "name": "checkout",
      "registryScopes": [%q],
      "signatureVerification": {"level": "strict"},
      "trustStores": ["ca:shop"],
      "trustedIdentities": [%q]
    }
  ]
}
`, image, notationIdentity(release[0])))
	cfg := strings.NewReplacer("POLICY", policy, "STORE", store).Replace(notationConfig)
	fleet := startGatedFleet(t, reg.host, cfg)

	// A trust policy that does not parse stops the agent at start, naming it.
	badPolicy := writeFile(t, filepath.Join(t.TempDir(), "broken-trustpolicy.json"), `{"version": "1.0", "trustPolicies": [`)
	broken := startGatedFleet(t, reg.host, strings.NewReplacer("POLICY", badPolicy, "STORE", store).Replace(notationConfig))
	out, code := runFerry(t, "run", "--once", "--config", broken.url, "--work-dir", t.TempDir())
	if code == 0 || !strings.Contains(out, badPolicy) {
		t.Fatalf("a trust policy that does not parse: exit %d, want a failure naming %s:\n%s", code, badPolicy, out)
	}
	if promos := broken.promotions(t); len(promos) != 0 {
		t.Errorf("ferry promoted with a broken trust policy: %q", promos)
	}
	t.Logf("broken trust policy: exit %d: %s", code, strings.TrimSpace(out))

	d100 := reg.push(t, repo, "1.0.0")
	notationtest.Sign(t, reg.host+"/"+repo, d100, releaseKey, release, jws.MediaTypeEnvelope)
	d110 := reg.push(t, repo, "1.1.0") // never signed
	d120 := reg.push(t, repo, "1.2.0")
	notationtest.Sign(t, reg.host+"/"+repo, d120, rogueKey, rogue, jws.MediaTypeEnvelope)

	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")
	if dev := fleet.show(t, "overlays/dev/kustomization.yaml"); !strings.Contains(dev, "newTag: 1.0.0") || !strings.Contains(dev, d100) {
		t.Errorf("dev does not run the signed 1.0.0 (%s):\n%s", d100, dev)
	}
	msg := fleet.git(t, "log", "-1", "--format=%B", "main")
	trailer := "Ferry-Signed-By: notation " + release[0].Subject.String() + " (" + shopCA.Cert.Subject.String() + ")"
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(trailer) + `$`).MatchString(msg) {
		t.Errorf("dev's promotion lacks %q:\n%s", trailer, msg)
	}

	// Newer, but not trusted: never a candidate, and the plan says why.
	text, code := runFerry(t, "plan", "--config", fleet.url, "--work-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("ferry plan exited %d:\n%s", code, text)
	}
	if !strings.Contains(text, "checkout: tags not trusted (no signature that verifies)") {
		t.Errorf("ferry plan does not list checkout's untrusted tags:\n%s", text)
	}
	untrusted := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^  untrusted: (\S+): (.*)$`).FindAllStringSubmatch(text, -1) {
		untrusted[m[1]] = m[2]
	}
	for tag, want := range map[string]string{
		"1.1.0": "no Notation signature",
		"1.2.0": `by "` + rogue[0].Subject.String() + `": its certificate chain leads to no root in trust stores ca:shop of trust policy "checkout"`,
	} {
		if got, ok := untrusted[tag]; !ok || !strings.Contains(got, want) {
			t.Errorf("ferry plan: untrusted %s: got %q, want it to say %q:\n%s", tag, got, want, text)
		}
	}
	t.Logf("ferry plan: untrusted 1.2.0: %s", untrusted["1.2.0"])
	t.Logf("ferry plan: untrusted 1.1.0: %s", untrusted["1.1.0"])
	if _, ok := untrusted["1.0.0"]; ok {
		t.Errorf("ferry plan lists the signed 1.0.0 as untrusted:\n%s", text)
	}
	runOnce(t, fleet)
	wantPromotions(t, fleet, "checkout dev 1.0.0")

	// A person puts the unsigned 1.1.0 into dev: prod's gate refuses it
	// before any policy, saying what failed.
	fleet.humanCommit(t, "human: try 1.1.0 in dev", func(dir string) {
		p := filepath.Join(dir, "overlays/dev/kustomization.yaml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "newTag: 1.0.0", "newTag: 1.1.0", 1)
		s = strings.Replace(s, d100, d110, 1)
		if s == string(b) || !strings.Contains(s, d110) {
			t.Fatalf("dev's overlay does not name 1.0.0 at %s:\n%s", d100, b)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	step := planJSON(t, fleet, "checkout", "prod")
	if step.Action != "deny" || step.Decision == nil || len(step.Decision.Deny) == 0 {
		t.Fatalf("prod: want a denial of the person's unsigned 1.1.0, got %+v", step)
	}
	first := step.Decision.Deny[0]
	want := fmt.Sprintf("checkout 1.1.0 (%s", d110[:len("sha256:")+12])
	if !strings.HasPrefix(first, want) || !strings.Contains(first, "carries no signature that verifies: ") || !strings.Contains(first, "no Notation signature") {
		t.Fatalf("prod: want the untrusted reason first (%q… carries no signature that verifies: no Notation signature), got %q", want, step.Decision.Deny)
	}
	t.Logf("prod's denial of the person's 1.1.0: %q", step.Decision.Deny)
}
