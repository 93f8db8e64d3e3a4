package cosign

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

const (
	vulnType = "https://cosign.sigstore.dev/attestation/vuln/v1"
	issuer   = "https://token.actions.example"
	ciID     = "ci@example.com"
)

// vulnPredicate is what trivy --format cosign-vuln writes.
const vulnPredicate = `{"scanner":{"uri":"pkg:github/aquasecurity/trivy@0.58.1","version":"0.58.1","result":{"SchemaVersion":2,"Results":[{"Target":"app","Vulnerabilities":[{"VulnerabilityID":"CVE-2024-0001","Severity":"HIGH"}]}]}},"metadata":{"scanStartedOn":"2026-12-07T04:00:00Z","scanFinishedOn":"2026-12-07T04:00:09Z"}}`

// fixture is one registry, the keys and the private keyless deployment the
// verifier trusts, and one that it does not.
type fixture struct {
	host      string
	good, bad signer
	goodPath  string
	fulcio    *fulcio
	stranger  *fulcio // another deployment's CA
	v         *Verifier
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{host: startRegistry(t), good: newSigner(t), bad: newSigner(t), fulcio: newFulcio(t), stranger: newFulcio(t)}
	f.goodPath = f.good.write(t, dir, "cosign.pub")
	cfg := &config.CosignTrust{
		Keys:        []string{f.goodPath},
		TrustedRoot: f.fulcio.trustedRoot(t, dir),
		// Unanchored, as a user writes it: ferry matches the whole subject.
		Identities: []config.SignerIdentity{{Issuer: issuer, SubjectRegExp: `ci@example\.com`}},
	}
	v, err := New(cfg, registry.NewClient(registry.Options{RequestsPerSecond: -1}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.v = v
	return f
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	keySig := func(s signer) trust.Signature {
		return trust.Signature{Kind: trust.KindCosign, Signer: s.fingerprint(t), Key: f.goodPath}
	}
	good := keySig(f.good)
	bundleSig, tagSig := good, good
	bundleSig.Format, tagSig.Format = "bundle", "tag"
	keyless := trust.Signature{Kind: trust.KindSigstore, Signer: ciID, Issuer: issuer, Format: "bundle"}
	keylessTag := keyless
	keylessTag.Format = "tag"
	other := "sha256:" + strings.Repeat("ab", 32)

	for _, tc := range []struct {
		name string
		// sign attaches signatures to repo@digest.
		sign         func(t *testing.T, repo, digest string)
		wantSigs     []trust.Signature
		wantAtts     []string // attestation types
		wantProblems []string // substrings, one problem each
	}{
		{
			name: "bundle signed with the key",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, SignPredicateType, "{}")))
			},
			wantSigs: []trust.Signature{bundleSig},
		},
		{
			// cosign sign-blob of the manifest's bytes: cosign verify
			// refuses it as an image signature, and so does ferry.
			name: "bundle message signature of the digest",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleMessage(t, f.good, d))
			},
			wantProblems: []string{"a message signature (cosign sign-blob of some bytes), not a signature of an image"},
		},
		{
			name: "tag signed with the key",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", sigLayer(t, f.good, simpleSigningJSON(f.host+"/"+repo, d)))
			},
			wantSigs: []trust.Signature{tagSig},
		},
		{
			name: "bundle signature and vuln attestation",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, SignPredicateType, "{}")))
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, vulnType, vulnPredicate)))
			},
			wantSigs: []trust.Signature{bundleSig},
			wantAtts: []string{trust.AttestVuln},
		},
		{
			name: "tag signature and attestations",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", sigLayer(t, f.good, simpleSigningJSON(f.host+"/"+repo, d)))
				pushTag(t, f.host, repo, d, ".att",
					attLayer(t, f.good, statementJSON(d, vulnType, vulnPredicate)),
					attLayer(t, f.good, statementJSON(d, "https://slsa.dev/provenance/v1", `{"buildDefinition":{}}`)),
					attLayer(t, f.good, statementJSON(d, "https://example.com/custom/v1", `{"a":1}`)))
			},
			wantSigs: []trust.Signature{tagSig},
			wantAtts: []string{trust.AttestVuln, trust.AttestProvenance, "https://example.com/custom/v1"},
		},
		{
			name: "keyless with a timestamp",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, ciID, issuer, time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), true))
			},
			wantSigs: []trust.Signature{keyless},
		},
		{
			name: "keyless with a transparency log entry",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keylessLogged(t, ciID, issuer, statementJSON(d, SignPredicateType, "{}")))
			},
			wantSigs: []trust.Signature{keyless},
		},
		{
			name: "keyless log entry of another identity",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keylessLogged(t, "mallory@example.com", issuer, statementJSON(d, SignPredicateType, "{}")))
			},
			wantProblems: []string{"mallory@example.com", "certificate identity"},
		},
		{
			name: "keyless log entry of another statement",
			sign: func(t *testing.T, repo, d string) {
				b := f.fulcio.keylessLogged(t, ciID, issuer, statementJSON(d, vulnType, vulnPredicate))
				pushReferrer(t, f.host, repo, d, BundleType, tamper(t, b, "CVE-2024-0001", "CVE-2024-9999"))
			},
			wantProblems: []string{"keyless signature by ci@example.com", "does not verify"},
		},
		{
			name: "tag keyless with a timestamp",
			sign: func(t *testing.T, repo, d string) {
				now := time.Now().Add(-time.Minute)
				pushTag(t, f.host, repo, d, ".sig", f.fulcio.keylessTag(t, ciID, issuer, now, simpleSigningJSON(repo, d), nil, true))
				pushTag(t, f.host, repo, d, ".att", f.fulcio.keylessTag(t, ciID, issuer, now, nil, statementJSON(d, vulnType, vulnPredicate), true))
			},
			wantSigs: []trust.Signature{keylessTag},
			wantAtts: []string{trust.AttestVuln},
		},
		{
			name: "tag keyless with a transparency log entry",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", f.fulcio.loggedTagSig(t, ciID, issuer, simpleSigningJSON(repo, d)))
			},
			wantSigs: []trust.Signature{keylessTag},
		},
		{
			name: "tag keyless without a timestamp",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", f.fulcio.keylessTag(t, ciID, issuer, time.Now().Add(-2*time.Hour), simpleSigningJSON(repo, d), nil, false))
			},
			wantProblems: []string{".sig layer", "keyless signature by ci@example.com", "timestamp"},
		},
		{
			name: "tag keyless of another identity and another digest",
			sign: func(t *testing.T, repo, d string) {
				now := time.Now().Add(-time.Minute)
				pushTag(t, f.host, repo, d, ".sig",
					f.fulcio.keylessTag(t, "mallory@example.com", issuer, now, simpleSigningJSON(repo, d), nil, true),
					f.fulcio.keylessTag(t, ciID, issuer, now, simpleSigningJSON(repo, other), nil, true))
				pushTag(t, f.host, repo, d, ".att", f.fulcio.keylessTag(t, ciID, issuer, now, nil, statementJSON(other, vulnType, vulnPredicate), true))
			},
			wantProblems: []string{"mallory@example.com", "certificate identity"},
		},
		{
			name: "tag keyless tampered",
			sign: func(t *testing.T, repo, d string) {
				l := f.fulcio.loggedTagSig(t, ciID, issuer, simpleSigningJSON(repo, d))
				l.data = []byte(strings.Replace(string(l.data), `"optional":null`, `"optional":{}`, 1))
				pushTag(t, f.host, repo, d, ".sig", l)
			},
			wantProblems: []string{"keyless signature by ci@example.com", "does not verify"},
		},
		{
			name: "bundle signed with another key",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.bad, statementJSON(d, SignPredicateType, "{}")))
			},
			wantProblems: []string{"signature does not verify with any configured key"},
		},
		{
			name: "tag signed with another key",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", sigLayer(t, f.bad, simpleSigningJSON(f.host+"/"+repo, d)))
				pushTag(t, f.host, repo, d, ".att", attLayer(t, f.bad, statementJSON(d, vulnType, vulnPredicate)))
			},
			wantProblems: []string{".sig layer sha256:", "signature does not verify with any configured key"},
		},
		{
			name: "bundle signature of another digest",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(other, SignPredicateType, "{}")))
			},
			wantProblems: []string{"statement names " + other + ", not this image"},
		},
		{
			name: "message signature of another digest",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleMessage(t, f.good, other))
			},
			wantProblems: []string{"a message signature (cosign sign-blob of some bytes)"},
		},
		{
			name: "tag signature of another digest",
			sign: func(t *testing.T, repo, d string) {
				pushTag(t, f.host, repo, d, ".sig", sigLayer(t, f.good, simpleSigningJSON(f.host+"/"+repo, other)))
			},
			wantProblems: []string{"payload names " + other + ", not this image"},
		},
		{
			name: "attestation of another image",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, SignPredicateType, "{}")))
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(other, vulnType, vulnPredicate)))
				pushTag(t, f.host, repo, d, ".att", attLayer(t, f.good, statementJSON(other, vulnType, vulnPredicate)))
			},
			wantSigs:     []trust.Signature{bundleSig},
			wantProblems: []string{"bundle sha256:", "statement names " + other + ", not this image"},
		},
		{
			name: "tampered bundle payload",
			sign: func(t *testing.T, repo, d string) {
				b := signBundleDSSE(t, f.good, statementJSON(d, vulnType, vulnPredicate))
				pushReferrer(t, f.host, repo, d, BundleType, tamper(t, b, "CVE-2024-0001", "CVE-2024-9999"))
			},
			wantProblems: []string{"signature does not verify with any configured key"},
		},
		{
			name: "tampered tag payloads",
			sign: func(t *testing.T, repo, d string) {
				l := sigLayer(t, f.good, simpleSigningJSON(f.host+"/"+repo, d))
				l.data = []byte(strings.Replace(string(l.data), `"optional":null`, `"optional":{"x":1}`, 1))
				pushTag(t, f.host, repo, d, ".sig", l)
				a := attLayer(t, f.good, statementJSON(d, vulnType, vulnPredicate))
				a.data = tamperEnvelope(t, a.data, "CVE-2024-0001", "CVE-2024-9999")
				pushTag(t, f.host, repo, d, ".att", a)
			},
			wantProblems: []string{"signature does not verify with any configured key", "signature does not verify with any configured key"},
		},
		{
			name: "expired certificate without a timestamp",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, ciID, issuer, time.Now().Add(-2*time.Hour), statementJSON(d, SignPredicateType, "{}"), false))
			},
			wantProblems: []string{"keyless signature by ci@example.com (" + issuer + ") does not verify", "timestamp"},
		},
		{
			name: "current certificate without a timestamp",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, ciID, issuer, time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), false))
			},
			wantProblems: []string{"does not verify", "timestamp"},
		},
		{
			name: "expired certificate timestamped after it expired",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, ciID, issuer, time.Now().Add(-2*time.Hour), statementJSON(d, SignPredicateType, "{}"), true))
			},
			wantProblems: []string{"does not verify", "leaf certificate"},
		},
		{
			name: "keyless identity mismatch",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, "mallory@example.com", issuer, time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), true))
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, ciID, "https://other.issuer", time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), true))
			},
			wantProblems: []string{"mallory@example.com", "certificate identity"},
		},
		{
			// cosign's unanchored regexp would take this subject.
			name: "keyless subject that only contains the identity",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, f.fulcio.keyless(t, "ci@example.com.attacker.test", issuer, time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), true))
			},
			wantProblems: []string{"ci@example.com.attacker.test", "certificate identity"},
		},
		{
			name: "certificate of another CA",
			sign: func(t *testing.T, repo, d string) {
				f.stranger.virtual = f.fulcio.virtual // a trusted timestamp, an untrusted CA
				pushReferrer(t, f.host, repo, d, BundleType, f.stranger.keyless(t, ciID, issuer, time.Now().Add(-time.Minute), statementJSON(d, SignPredicateType, "{}"), true))
			},
			wantProblems: []string{"does not verify", "certificate"},
		},
		{
			name:         "unsigned image",
			sign:         func(*testing.T, string, string) {},
			wantProblems: []string{"no cosign signature of sha256:"},
		},
		{
			name: "garbage bundle beside a good one",
			sign: func(t *testing.T, repo, d string) {
				pushReferrer(t, f.host, repo, d, BundleType, []byte(`{"mediaType":"nope"`))
				pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, SignPredicateType, "{}")))
			},
			wantSigs:     []trust.Signature{bundleSig},
			wantProblems: []string{"not a sigstore bundle"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "shop/" + strings.ToLower(strings.NewReplacer(" ", "-").Replace(tc.name))
			d := pushImage(t, f.host, repo)
			tc.sign(t, repo, d)
			res, err := f.v.Verify(t.Context(), trust.Image{Repo: f.host + "/" + repo, Digest: d})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("problems: %q", res.Problems)
			if !sameSigs(res.Signatures, tc.wantSigs) {
				t.Errorf("signatures %+v, want %+v (problems %q)", res.Signatures, tc.wantSigs, res.Problems)
			}
			if res.Trusted() != (len(tc.wantSigs) > 0) {
				t.Errorf("trusted = %v", res.Trusted())
			}
			var types []string
			for _, a := range res.Attestations {
				types = append(types, a.Type)
				if a.Signer.Kind == "" || !json.Valid(a.Predicate) {
					t.Errorf("attestation %+v: no signer or invalid predicate", a)
				}
				if a.Type == trust.AttestVuln && !strings.Contains(string(a.Predicate), `"VulnerabilityID":"CVE-2024-0001"`) {
					t.Errorf("vuln predicate %s lacks the report", a.Predicate)
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.wantAtts, ",") {
				t.Errorf("attestations %q, want %q (problems %q)", types, tc.wantAtts, res.Problems)
			}
			if len(tc.wantProblems) == 0 && len(res.Problems) > 0 {
				t.Errorf("problems %q, want none", res.Problems)
			}
			if len(tc.wantProblems) > 0 && !anyHasAll(res.Problems, tc.wantProblems) {
				t.Errorf("problems %q, want one with all of %q", res.Problems, tc.wantProblems)
			}
		})
	}
}

func sameSigs(a, b []trust.Signature) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// anyHasAll reports whether one problem holds every substring.
func anyHasAll(problems, subs []string) bool {
	for _, p := range problems {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(p, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// tamper changes a bundle's signed payload.
func tamper(t *testing.T, bundle []byte, from, to string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	env := m["dsseEnvelope"].(map[string]any)
	env["payload"] = retext(t, env["payload"].(string), from, to)
	out, _ := json.Marshal(m)
	return out
}

func tamperEnvelope(t *testing.T, envelope []byte, from, to string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(envelope, &m); err != nil {
		t.Fatal(err)
	}
	m["payload"] = retext(t, m["payload"].(string), from, to)
	out, _ := json.Marshal(m)
	return out
}

func retext(t *testing.T, b64payload, from, to string) string {
	t.Helper()
	var raw []byte
	if err := json.Unmarshal([]byte(`"`+b64payload+`"`), &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), from) {
		t.Fatalf("payload %s lacks %q", raw, from)
	}
	return b64([]byte(strings.Replace(string(raw), from, to, 1)))
}

func TestVerifyTooManySignatures(t *testing.T) {
	f := newFixture(t, WithMaxSignatures(2))
	repo := "shop/many"
	d := pushImage(t, f.host, repo)
	for range 3 {
		pushReferrer(t, f.host, repo, d, BundleType, signBundleDSSE(t, f.bad, statementJSON(d, SignPredicateType, "{}")))
	}
	pushTag(t, f.host, repo, d, ".sig",
		sigLayer(t, f.bad, simpleSigningJSON(repo, d)), sigLayer(t, f.bad, simpleSigningJSON(repo, d)), sigLayer(t, f.good, simpleSigningJSON(repo, d)))
	res, err := f.v.Verify(t.Context(), trust.Image{Repo: f.host + "/" + repo, Digest: d})
	if err != nil {
		t.Fatal(err)
	}
	if res.Trusted() {
		t.Errorf("the third layer was read past the cap: %+v", res.Signatures)
	}
	for _, want := range []string{"1 more sigstore bundles not examined (at most 2 per image)", "1 more layers not examined (at most 2)"} {
		if !anyHasAll(res.Problems, []string{want}) {
			t.Errorf("problems %q lack %q", res.Problems, want)
		}
	}
	if n := strings.Count(strings.Join(res.Problems, "\n"), "does not verify"); n != 4 {
		t.Errorf("%d refusals, want 4 (2 bundles, 2 layers): %q", n, res.Problems)
	}
}

func TestVerifyBadDigest(t *testing.T) {
	f := newFixture(t)
	if _, err := f.v.Verify(context.Background(), trust.Image{Repo: f.host + "/shop/x", Digest: "sha512:abc"}); err == nil {
		t.Fatal("a non-sha256 digest verified")
	}
}

// TestAttestationTimeIsSigned: an attestation is dated by what was signed
// (here the vuln predicate's scanFinishedOn), never by the referrer's
// created annotation, which anyone who can push to the registry sets (the
// red team made an old clean scan look newest that way).
func TestAttestationTimeIsSigned(t *testing.T) {
	f := newFixture(t)
	d := pushImage(t, f.host, "shop/dated")
	finished := "2026-12-07T05:25:04Z"
	pushReferrer(t, f.host, "shop/dated", d, BundleType, signBundleDSSE(t, f.good, statementJSON(d, SignPredicateType, "{}")))
	pushReferrer(t, f.host, "shop/dated", d, BundleType, signBundleDSSE(t, f.good,
		statementJSON(d, "https://cosign.sigstore.dev/attestation/vuln/v1", `{"scanner":{"result":{}},"metadata":{"scanFinishedOn":"`+finished+`"}}`)))
	pushReferrer(t, f.host, "shop/dated", d, BundleType, signBundleDSSE(t, f.good,
		statementJSON(d, "https://slsa.dev/provenance/v0.2", `{"builder":{"id":"b"}}`)))
	res, err := f.v.Verify(t.Context(), trust.Image{Repo: f.host + "/shop/dated", Digest: d})
	if err != nil || len(res.Attestations) != 2 {
		t.Fatalf("%+v, %v", res, err)
	}
	for _, a := range res.Attestations {
		want := time.Time{} // the provenance says no time: undated, whatever the annotation says
		if a.Type == "vuln" {
			want, _ = time.Parse(time.RFC3339, finished)
		}
		if !a.Created.Equal(want) {
			t.Errorf("%s dated %v, want %v (the signed time)", a.Type, a.Created, want)
		}
	}
}
