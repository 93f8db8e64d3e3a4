package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/state"
	"github.com/ferry-dev/ferry/agent/trust"
)

// fixedTrust verifies every digest to the same result.
type fixedTrust trust.Result

func (f fixedTrust) Verify(context.Context, trust.Image) (trust.Result, error) {
	return trust.Result(f), nil
}

var ciKey = trust.Signature{Kind: trust.KindCosign, Signer: "SHA256:ci", Key: "/etc/ferry/cosign.pub", Format: "bundle"}

// vulnPredicate is cosign's vuln predicate around a Trivy report.
func vulnPredicate(t *testing.T, critical int) json.RawMessage {
	t.Helper()
	var vulns []string
	for i := range critical {
		vulns = append(vulns, fmt.Sprintf(`{"VulnerabilityID": "CVE-2026-%04d", "PkgName": "openssl", "InstalledVersion": "3.0.1", "FixedVersion": "3.0.2", "Severity": "CRITICAL"}`, i))
	}
	return json.RawMessage(`{"invocation": {}, "scanner": {"uri": "pkg:github/aquasecurity/trivy@0.58.0", "version": "0.58.0",
		"result": {"SchemaVersion": 2, "ArtifactName": "checkout", "ArtifactType": "container_image",
		"Results": [{"Target": "checkout", "Vulnerabilities": [` + strings.Join(vulns, ",") + `]}]}}}`)
}

// TestDecideVerifiedApp: for an app with verify:, what verified reaches the
// input and the commit, and a candidate without a verified signature is
// denied whatever the policies say.
func TestDecideVerifiedApp(t *testing.T) {
	provenance := trust.Attestation{Type: trust.AttestProvenance, PredicateType: "https://slsa.dev/provenance/v1", Signer: ciKey,
		Predicate: json.RawMessage(`{"buildDefinition": {}, "runDetails": {"builder": {"id": "https://jenkins.example/job/checkout"}}}`)}
	tests := []struct {
		name        string
		policies    map[string]string
		result      trust.Result
		wantAllow   bool
		wantDeny    string // the first denial
		wantSigned  any    // input.evidence.trivy.signed; nil: no trivy
		wantCrit    any
		wantBuilder string
		digest      string // "-": none
	}{
		{name: "unsigned, no policies", result: trust.Result{Problems: []string{"no signature found"}},
			wantDeny: "checkout 1.1.0 (sha256:000000000000) carries no signature that verifies: no signature found; sign it with a key or identity that verify: in ferry.yaml trusts"},
		{name: "unsigned, a policy that allows all", policies: map[string]string{"policies/p.rego": "package ferry.promotion\n\ndeny contains \"never\" if false\n"},
			result:   trust.Result{Problems: []string{"signature by SHA256:other does not verify with /etc/ferry/cosign.pub"}},
			wantDeny: "checkout 1.1.0 (sha256:000000000000) carries no signature that verifies: signature by SHA256:other does not verify with /etc/ferry/cosign.pub; sign it with a key or identity that verify: in ferry.yaml trusts"},
		{name: "signed, the signed scan replaces the file's", result: trust.Result{Signatures: []trust.Signature{ciKey},
			Attestations: []trust.Attestation{{Type: trust.AttestVuln, PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1", Signer: ciKey, Predicate: vulnPredicate(t, 2)}, provenance}},
			wantAllow: true, wantSigned: true, wantCrit: 2, wantBuilder: "https://jenkins.example/job/checkout"},
		// A bundle that could not be read may be a newer scan (red team:
		// the CRITICAL one deleted): the signed ones read are not used.
		{name: "incomplete: attestations not used", result: trust.Result{Signatures: []trust.Signature{ciKey}, Incomplete: "bundle sha256:aa22027b105d: not read: MANIFEST_UNKNOWN",
			Attestations: []trust.Attestation{{Type: trust.AttestVuln, PredicateType: "https://cosign.sigstore.dev/attestation/vuln/v1", Signer: ciKey, Predicate: vulnPredicate(t, 2)}}},
			wantAllow: true, wantSigned: false, wantCrit: 0},
		{name: "signed image, unsigned scan", result: trust.Result{Signatures: []trust.Signature{ciKey}},
			wantAllow: true, wantSigned: false, wantCrit: 0},
		{name: "no digest", digest: "-", result: trust.Result{Problems: []string{"no digest"}},
			wantDeny: "checkout 1.1.0 has no digest: a signature is made over a digest, so ferry trusts only a pinned version (put the digest in the overlay)"},
		{name: "a vuln predicate without a report is not a clean scan", result: trust.Result{Signatures: []trust.Signature{ciKey},
			Attestations: []trust.Attestation{{Type: trust.AttestVuln, Signer: ciKey, Predicate: json.RawMessage(`{"scanner": {}}`)}}},
			wantAllow: true, wantSigned: false, wantCrit: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, tt.policies)
			w.cfg.Apps[0].Verify = &config.ImageTrust{Cosign: &config.CosignTrust{Keys: []string{"/etc/ferry/cosign.pub"}}, Builders: []string{"https://jenkins.example/job/checkout"}}
			w.scan("clean")
			head := w.head()
			checker := trust.NewChecker(map[string][]trust.Verifier{"checkout": {fixedTrust(tt.result)}})
			g := New(Options{Config: w.cfg, Log: w.repo, Trust: checker})
			app, _ := w.cfg.App("checkout")
			env, _ := w.cfg.Env("qa")
			digest := fmt.Sprintf("sha256:%064x", 1)
			if tt.digest == "-" {
				digest = ""
			}
			d, err := g.Decide(w.ctx, &Request{App: app, Env: env, From: "dev", Candidate: ledger.Version{Tag: "1.1.0", Digest: digest},
				State: state.Read(w.cfg, head, nil)})
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow != tt.wantAllow || !tt.wantAllow && (len(d.Deny) == 0 || d.Deny[0] != tt.wantDeny) {
				t.Fatalf("allow %v deny %q, want allow %v first denial %q", d.Allow, d.Deny, tt.wantAllow, tt.wantDeny)
			}
			sigs := d.Input["candidate"].(map[string]any)["signatures"].([]any)
			if len(sigs) != len(tt.result.Signatures) {
				t.Errorf("input.candidate.signatures %v, want %d", sigs, len(tt.result.Signatures))
			}
			if want := len(tt.result.Signatures); len(d.Record("dev").SignedBy) != want {
				t.Errorf("Ferry-Signed-By %v, want %d lines", d.Record("dev").SignedBy, want)
			}
			if b := d.Input["app"].(map[string]any)["verify"].(map[string]any)["builders"].([]any); len(b) != 1 {
				t.Errorf("input.app.verify.builders %v", b)
			}
			ev := d.Input["evidence"].(map[string]any)
			tv, _ := ev["trivy"].(map[string]any)
			if tt.wantSigned != nil && (tv == nil || tv["signed"] != tt.wantSigned || tv["summary"].(map[string]int)["CRITICAL"] != tt.wantCrit) {
				t.Errorf("trivy %v, want signed %v with %v CRITICAL", tv, tt.wantSigned, tt.wantCrit)
			}
			if tt.wantBuilder != "" {
				prov := ev["attestations"].(map[string]any)[trust.AttestProvenance].(map[string]any)
				if prov["builder"] != tt.wantBuilder {
					t.Errorf("provenance builder %v, want %s", prov["builder"], tt.wantBuilder)
				}
				if !slices.ContainsFunc(d.Evidence, func(e string) bool {
					return strings.HasPrefix(e, "attestation slsaprovenance signed by cosign SHA256:ci")
				}) {
					t.Errorf("evidence %q lacks the provenance line", d.Evidence)
				}
			}
		})
	}
}

// TestNewestAttestations: the newest signed scan wins; of two as new (or
// both undated), the worse.
func TestNewestAttestations(t *testing.T) {
	at := func(crit int, created time.Time) trust.Attestation {
		return trust.Attestation{Type: trust.AttestVuln, Signer: ciKey, Predicate: vulnPredicate(t, crit), Created: created}
	}
	t0 := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		atts []trust.Attestation
		want int
	}{
		{"newer clean scan wins", []trust.Attestation{at(2, t0), at(0, t0.Add(time.Minute))}, 0},
		{"newer dirty scan wins", []trust.Attestation{at(0, t0), at(3, t0.Add(time.Minute))}, 3},
		{"a tie is the worse", []trust.Attestation{at(0, t0), at(1, t0), at(0, t0)}, 1},
		{"undated: the worse", []trust.Attestation{at(0, time.Time{}), at(2, time.Time{})}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := newestAttestations(tc.atts)
			r, err := trivy.ParseVulnPredicate(got[0].Predicate)
			if err != nil || len(got) != 1 || r.Summary["CRITICAL"] != tc.want {
				t.Errorf("took %d CRITICAL (%v), want %d", r.Summary["CRITICAL"], err, tc.want)
			}
		})
	}
}
