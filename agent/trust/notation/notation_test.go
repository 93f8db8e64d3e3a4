package notation

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/agent/trust/notation/notationtest"
)

const ciIdentity = "x509.subject: C=US, ST=WA, O=example, CN=ci"

// trustPolicy is a notation trustpolicy.json with one statement per level,
// scoped to repositories of the registry at host.
func trustPolicy(host string) string {
	scopes := func(repos ...string) string {
		var q []string
		for _, r := range repos {
			q = append(q, fmt.Sprintf("%q", host+"/shop/"+r))
		}
		return strings.Join(q, ", ")
	}
	return fmt.Sprintf(`{
  "version": "1.0",
  "trustPolicies": [
    {
      "name": "shop-strict",
      "registryScopes": [%s],
      "signatureVerification": {"level": "strict"},
      "trustStores": ["ca:acme"],
      "trustedIdentities": [%q]
    },
    {
      "name": "shop-permissive",
      "registryScopes": [%s],
      "signatureVerification": {"level": "permissive"},
      "trustStores": ["ca:acme"],
      "trustedIdentities": [%q]
    },
    {
      "name": "shop-audit",
      "registryScopes": [%s],
      "signatureVerification": {"level": "audit"},
      "trustStores": ["ca:acme"],
      "trustedIdentities": [%q]
    },
    {
      "name": "shop-skip",
      "registryScopes": [%s],
      "signatureVerification": {"level": "skip"}
    }
  ]
}
`, scopes("good", "cose", "identity", "rogue", "other", "tampered", "garbage", "expired", "unsigned", "mixed", "large"), ciIdentity,
		scopes("expired-permissive"), ciIdentity,
		scopes("audit-good", "audit-rogue"), ciIdentity,
		scopes("skipped"))
}

// fixture is a real registry with signed images and a trust policy and
// store for them.
type fixture struct {
	host    string
	cfg     *config.NotationTrust
	digests map[string]string // repo name -> image digest
	acme    *notationtest.CA
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	host := startRegistry(t)
	dir := t.TempDir()
	acme := notationtest.NewCA(t, "ferry test root", "example")
	rogue := notationtest.NewCA(t, "rogue root", "example")
	store := filepath.Join(dir, "truststore")
	acme.WriteStore(t, store, "acme")
	f := &fixture{
		host:    host,
		cfg:     &config.NotationTrust{TrustPolicy: writePolicy(t, dir, trustPolicy(host)), TrustStore: store},
		digests: map[string]string{},
		acme:    acme,
	}
	now := time.Now()
	ciKey, ciChain := acme.Leaf(t, "ci", "example", now.Add(-time.Hour), now.Add(24*time.Hour))
	intruderKey, intruderChain := acme.Leaf(t, "intruder", "example", now.Add(-time.Hour), now.Add(24*time.Hour))
	rogueKey, rogueChain := rogue.Leaf(t, "ci", "example", now.Add(-time.Hour), now.Add(24*time.Hour))
	// Valid for a day that ended an hour ago; signed in the middle of it.
	oldKey, oldChain := acme.Leaf(t, "ci", "example", now.Add(-25*time.Hour), now.Add(-time.Hour))

	for _, r := range []string{"good", "cose", "identity", "rogue", "other", "tampered", "garbage", "expired", "expired-permissive",
		"unsigned", "mixed", "large", "audit-good", "audit-rogue", "skipped"} {
		f.digests[r] = pushImage(t, f.repo(r), "1.0.0")
	}
	notationtest.Sign(t, f.repo("good"), f.digests["good"], ciKey, ciChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("cose"), f.digests["cose"], ciKey, ciChain, cose.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("identity"), f.digests["identity"], intruderKey, intruderChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("rogue"), f.digests["rogue"], rogueKey, rogueChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("mixed"), f.digests["mixed"], rogueKey, rogueChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("mixed"), f.digests["mixed"], ciKey, ciChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("mixed"), f.digests["mixed"], ciKey, ciChain, cose.MediaTypeEnvelope) // the same signer again
	notationtest.Sign(t, f.repo("audit-good"), f.digests["audit-good"], ciKey, ciChain, jws.MediaTypeEnvelope)
	notationtest.Sign(t, f.repo("audit-rogue"), f.digests["audit-rogue"], rogueKey, rogueChain, jws.MediaTypeEnvelope)

	// A good signature of another image, attached to this one.
	otherImg := pushImage(t, f.repo("other"), "2.0.0")
	subject := describe(t, f.repo("other"), f.digests["other"])
	pushEnvelope(t, f.repo("other"), subject, jws.MediaTypeEnvelope,
		envelope(t, describe(t, f.repo("other"), otherImg), ciKey, ciChain, now))

	// A good signature whose payload is then changed.
	subject = describe(t, f.repo("tampered"), f.digests["tampered"])
	pushEnvelope(t, f.repo("tampered"), subject, jws.MediaTypeEnvelope, tamper(t, envelope(t, subject, ciKey, ciChain, now)))

	pushEnvelope(t, f.repo("garbage"), describe(t, f.repo("garbage"), f.digests["garbage"]), jws.MediaTypeEnvelope, []byte("{not a JWS"))
	pushEnvelope(t, f.repo("large"), describe(t, f.repo("large"), f.digests["large"]), jws.MediaTypeEnvelope,
		make([]byte, MaxEnvelopeBytes+1))

	for _, r := range []string{"expired", "expired-permissive"} {
		subject := describe(t, f.repo(r), f.digests[r])
		pushEnvelope(t, f.repo(r), subject, jws.MediaTypeEnvelope, envelope(t, subject, oldKey, oldChain, now.Add(-12*time.Hour)))
	}
	return f
}

func (f *fixture) repo(name string) string { return f.host + "/shop/" + name }

// tamper rewrites a JWS envelope's payload, leaving its signature.
func tamper(t testing.TB, env []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	p, err := base64.RawURLEncoding.DecodeString(m["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	p = []byte(strings.Replace(string(p), `"size":`, `"size":1`, 1))
	m["payload"] = base64.RawURLEncoding.EncodeToString(p)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	v, err := New(f.cfg, registry.NewClient(registry.Options{RequestsPerSecond: -1}))
	if err != nil {
		t.Fatal(err)
	}
	ci := trust.Signature{Kind: "notation", Signer: "CN=ci,O=example,ST=WA,C=US", Issuer: "CN=ferry test root,O=example,ST=WA,C=US", Format: "notation"}
	for _, tc := range []struct {
		repo     string
		want     []trust.Signature
		problems []string // substrings, one per Problem, in order
	}{
		{repo: "good", want: []trust.Signature{ci}},
		{repo: "cose", want: []trust.Signature{ci}},
		{repo: "identity", problems: []string{`by "CN=intruder,O=example,ST=WA,C=US": the signing certificate is not among the trustedIdentities ["` + ciIdentity + `"] of trust policy "shop-strict"`}},
		{repo: "rogue", problems: []string{`by "CN=ci,O=example,ST=WA,C=US": its certificate chain leads to no root in trust stores ca:acme of trust policy "shop-strict"`}},
		{repo: "other", problems: []string{`: signs another artifact (sha256:`}},
		{repo: "tampered", problems: []string{`: the envelope does not verify (tampered or malformed)`}},
		{repo: "garbage", problems: []string{`: the envelope does not verify (tampered or malformed)`}},
		{repo: "expired", problems: []string{`by "CN=ci,O=example,ST=WA,C=US": a certificate is outside its validity period and no trusted timestamp vouches for the signing time: verification time is after certificate "CN=ci,O=example,ST=WA,C=US" validity period`}},
		// permissive only logs an expired certificate, as notation defines.
		{repo: "expired-permissive", want: []trust.Signature{ci}},
		{repo: "unsigned", problems: []string{"no Notation signature"}},
		{repo: "mixed", want: []trust.Signature{ci}, problems: []string{`its certificate chain leads to no root in trust stores ca:acme`}},
		{repo: "large", problems: []string{": not read: body too large: layer "}},
		{repo: "audit-good", want: []trust.Signature{ci}},
		{repo: "audit-rogue", problems: []string{`its certificate chain leads to no root in trust stores ca:acme of trust policy "shop-audit"`, `(trust policy "shop-audit" is at level audit, which only logs this; ferry trusts only an authentic signature)`}},
		{repo: "skipped", problems: []string{`trust policy "shop-skip" of ` + f.cfg.TrustPolicy + ` skips Notation verification for ` + f.repo("skipped") + `: not trusted`}},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			res, err := v.Verify(t.Context(), trust.Image{Repo: f.repo(tc.repo), Digest: f.digests[tc.repo]})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("signatures %+v problems %q", res.Signatures, res.Problems)
			if !slices.Equal(res.Signatures, tc.want) {
				t.Errorf("signatures = %+v, want %+v", res.Signatures, tc.want)
			}
			if res.Trusted() != (len(tc.want) > 0) {
				t.Errorf("Trusted() = %v", res.Trusted())
			}
			// audit-rogue's two substrings are of one Problem.
			if tc.repo == "audit-rogue" {
				tc.problems = []string{tc.problems[0] + "\x00" + tc.problems[1]}
			}
			if len(res.Problems) != len(tc.problems) {
				t.Fatalf("problems = %q, want %d like %q", res.Problems, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				for _, part := range strings.Split(want, "\x00") {
					if !strings.Contains(res.Problems[i], part) {
						t.Errorf("problem %d = %q, want it to contain %q", i, res.Problems[i], part)
					}
				}
			}
		})
	}

	t.Run("no applicable policy", func(t *testing.T) {
		res, err := v.Verify(t.Context(), trust.Image{Repo: f.host + "/elsewhere/app", Digest: f.digests["good"]})
		if err != nil {
			t.Fatal(err)
		}
		if res.Trusted() || len(res.Problems) != 1 || !strings.Contains(res.Problems[0], "no trust policy of "+f.cfg.TrustPolicy+" applies to "+f.host+"/elsewhere/app") {
			t.Fatalf("result = %+v", res)
		}
	})
}

// TestVerifyRegistryDown: an unreadable registry is an error, not a
// Result: nothing is known.
func TestVerifyRegistryDown(t *testing.T) {
	dir := t.TempDir()
	host := freeAddr(t) // nothing listens
	notationtest.NewCA(t, "ferry test root", "example").WriteStore(t, filepath.Join(dir, "truststore"), "acme")
	cfg := &config.NotationTrust{TrustPolicy: writePolicy(t, dir, trustPolicy(host)), TrustStore: filepath.Join(dir, "truststore")}
	v, err := New(cfg, registry.NewClient(registry.Options{RequestsPerSecond: -1, LookupTimeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Verify(t.Context(), trust.Image{Repo: host + "/shop/good", Digest: "sha256:" + strings.Repeat("ab", 32)})
	if err == nil {
		t.Fatalf("no error; result %+v", res)
	}
}

// fakeRegistry answers with fixed artifacts.
type fakeRegistry struct {
	arts   []registry.Artifact
	unread int
	err    error
	gotMax int
}

func (f *fakeRegistry) Describe(context.Context, string, string, bool) (registry.Descriptor, error) {
	return registry.Descriptor{Digest: "sha256:" + strings.Repeat("ab", 32), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 100}, nil
}

func (f *fakeRegistry) ReferrersUpTo(_ context.Context, _, _ string, types []string, maxBytes int64, maxCount int, _ bool) ([]registry.Artifact, int, error) {
	if !slices.Equal(types, []string{ArtifactType}) || maxBytes != MaxEnvelopeBytes {
		return nil, 0, fmt.Errorf("asked for %v up to %d bytes", types, maxBytes)
	}
	f.gotMax = maxCount
	return f.arts, f.unread, f.err
}

func TestVerifyBounds(t *testing.T) {
	dir := t.TempDir()
	notationtest.NewCA(t, "ferry test root", "example").WriteStore(t, filepath.Join(dir, "truststore"), "acme")
	cfg := &config.NotationTrust{TrustPolicy: writePolicy(t, dir, trustPolicy("registry.example")), TrustStore: filepath.Join(dir, "truststore")}
	img := trust.Image{Repo: "registry.example/shop/good", Digest: "sha256:" + strings.Repeat("ab", 32)}

	t.Run("at most 32 signatures", func(t *testing.T) {
		reg := &fakeRegistry{arts: []registry.Artifact{{Digest: "sha256:" + strings.Repeat("cd", 32), MediaType: "application/cose", Data: []byte{0xd2, 0x84}}}, unread: 7}
		v, err := New(cfg, reg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(t.Context(), img)
		if err != nil {
			t.Fatal(err)
		}
		if reg.gotMax != MaxSignatures {
			t.Errorf("asked for %d signatures, want %d", reg.gotMax, MaxSignatures)
		}
		want := []string{"Notation signature sha256:cdcdcdcdcdcd: the envelope does not verify (tampered or malformed)",
			"7 more Notation signature(s) not examined (at most 32 per image)"}
		if res.Trusted() || len(res.Problems) != 2 || !strings.HasPrefix(res.Problems[0], want[0]) || res.Problems[1] != want[1] {
			t.Fatalf("problems = %q, want %q", res.Problems, want)
		}
	})
	t.Run("unknown envelope type", func(t *testing.T) {
		v, err := New(cfg, &fakeRegistry{arts: []registry.Artifact{{Digest: "sha256:" + strings.Repeat("cd", 32), MediaType: "text/plain", Data: []byte("x")}}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := v.Verify(t.Context(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Problems) != 1 || !strings.Contains(res.Problems[0], `envelope media type "text/plain" is neither application/jose+json nor application/cose`) {
			t.Fatalf("problems = %q", res.Problems)
		}
	})
	t.Run("registry error", func(t *testing.T) {
		boom := errors.New("connection reset")
		v, err := New(cfg, &fakeRegistry{err: boom})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t.Context(), img); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
	t.Run("ended context", func(t *testing.T) {
		v, err := New(cfg, &fakeRegistry{arts: []registry.Artifact{{MediaType: "application/cose"}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := v.Verify(ctx, img); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewRefuses(t *testing.T) {
	root := notationtest.NewCA(t, "ferry test root", "example")
	good := trustPolicy("registry.example")
	for _, tc := range []struct {
		name   string
		policy string // "" = no file
		store  func(dir string)
		want   []string // substrings of the error
	}{
		{name: "missing policy", store: func(string) {}, want: []string{"notation trust policy", "trustpolicy.json", "no such file"}},
		{name: "malformed JSON", policy: "{\n  \"version\": \"1.0\",\n  \"trustPolicies\": [}\n", want: []string{"trustpolicy.json: line 3, column 21", "malformed JSON"}},
		{name: "truncated", policy: "{\"version\": \"1.0\"", want: []string{"line 1, column 18", "unexpected end"}},
		{name: "unknown field", policy: strings.Replace(good, `"trustStores"`, `"trustStore"`, 1), want: []string{`unknown field "trustStore"`}},
		{name: "wrong type", policy: `{"version": 1}`, want: []string{"line 1, column 13"}},
		{name: "two documents", policy: good + "{}", want: []string{"data after the JSON document"}},
		{name: "version", policy: strings.Replace(good, `"1.0"`, `"2.0"`, 1), want: []string{"trustpolicy.json", `unsupported version "2.0"`}},
		{name: "bad level", policy: strings.Replace(good, `"strict"`, `"paranoid"`, 1), want: []string{"trustpolicy.json", "paranoid"}},
		{name: "store not in the directory", policy: strings.Replace(good, `ca:acme`, `ca:nope`, 1),
			want: []string{"notation trust store", `trust policy "shop-strict" names ca:nope`, filepath.Join("x509", "ca", "nope"), "does not exist"}},
		{name: "empty store", store: func(dir string) {
			os.MkdirAll(filepath.Join(dir, "x509", "ca", "acme"), 0o755)
		}, want: []string{`names ca:acme`, `no x509 certificates were found in trust store "acme"`}},
		{name: "not a certificate", store: func(dir string) {
			os.MkdirAll(filepath.Join(dir, "x509", "ca", "acme"), 0o755)
			os.WriteFile(filepath.Join(dir, "x509", "ca", "acme", "root.pem"), []byte("hello"), 0o644)
		}, want: []string{`names ca:acme`, "root.pem"}},
		{name: "no store directory", store: func(dir string) { os.RemoveAll(dir) }, want: []string{"notation trust store", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			store := filepath.Join(dir, "truststore")
			cfg := &config.NotationTrust{TrustPolicy: filepath.Join(dir, "trustpolicy.json"), TrustStore: store}
			if tc.policy == "" && tc.name != "missing policy" {
				tc.policy = good
			}
			if tc.policy != "" {
				writePolicy(t, dir, tc.policy)
			}
			if tc.store != nil {
				os.MkdirAll(store, 0o755)
				tc.store(store)
			} else {
				root.WriteStore(t, store, "acme")
			}
			_, err := New(cfg, &fakeRegistry{})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func BenchmarkVerifyNotation(b *testing.B) {
	f := newFixture(b)
	v, err := New(f.cfg, registry.NewClient(registry.Options{RequestsPerSecond: -1}))
	if err != nil {
		b.Fatal(err)
	}
	img := trust.Image{Repo: f.repo("good"), Digest: f.digests["good"]}
	for b.Loop() {
		res, err := v.Verify(context.Background(), img)
		if err != nil || !res.Trusted() {
			b.Fatalf("%+v %v", res, err)
		}
	}
}

// TestVerifyOffline: a signing certificate with OCSP and CRL endpoints is
// verified without contacting them (its revocation status is unknown:
// refused at strict, logged at permissive, as notation's levels say), and
// the trust store is what New read, whatever happens to the directory later.
func TestVerifyOffline(t *testing.T) {
	var hits atomic.Int64
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer endpoint.Close()

	dir := t.TempDir()
	acme := notationtest.NewCA(t, "ferry test root", "example")
	store := filepath.Join(dir, "truststore")
	acme.WriteStore(t, store, "acme")
	cfg := &config.NotationTrust{TrustPolicy: writePolicy(t, dir, trustPolicy("registry.example")), TrustStore: store}
	reg := &fakeRegistry{}
	v, err := New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Describe(t.Context(), "", "", false)
	target := ocispec.Descriptor{MediaType: d.MediaType, Digest: ocidigest(d.Digest), Size: d.Size}
	now := time.Now()
	revocable := func(c *x509.Certificate) {
		c.OCSPServer = []string{endpoint.URL + "/ocsp"}
		c.CRLDistributionPoints = []string{endpoint.URL + "/crl"}
	}
	key, chain := acme.Leaf(t, "ci", "example", now.Add(-time.Hour), now.Add(time.Hour), revocable)
	plainKey, plainChain := acme.Leaf(t, "ci", "example", now.Add(-time.Hour), now.Add(time.Hour))
	sigArt := func(env []byte) []registry.Artifact {
		return []registry.Artifact{{Digest: "sha256:" + strings.Repeat("cd", 32), MediaType: jws.MediaTypeEnvelope, Data: env}}
	}
	// The store directory is gone: New read it already.
	if err := os.RemoveAll(store); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, repo string
		env        []byte
		trusted    bool
		problem    string
	}{
		{"revocable at strict", "shop/good", envelope(t, target, key, chain, now), false,
			`by "CN=ci,O=example,ST=WA,C=US": revocation (checked offline: OCSP and CRL endpoints are not contacted)`},
		{"revocable at permissive", "shop/expired-permissive", envelope(t, target, key, chain, now), true, ""},
		{"not revocable at strict", "shop/good", envelope(t, target, plainKey, plainChain, now), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.arts = sigArt(tc.env)
			res, err := v.Verify(t.Context(), trust.Image{Repo: "registry.example/" + tc.repo, Digest: d.Digest})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("signatures %+v problems %q", res.Signatures, res.Problems)
			if res.Trusted() != tc.trusted {
				t.Fatalf("trusted = %v, want %v (%q)", res.Trusted(), tc.trusted, res.Problems)
			}
			if tc.problem != "" && (len(res.Problems) != 1 || !strings.Contains(res.Problems[0], tc.problem)) {
				t.Fatalf("problems %q, want one containing %q", res.Problems, tc.problem)
			}
		})
	}
	t.Run("hostile subject", func(t *testing.T) {
		key, chain := acme.Leaf(t, "ci\nFerry-Signed-By: forged\x1b[2J"+strings.Repeat("x", 2000), "example", now.Add(-time.Hour), now.Add(time.Hour))
		reg.arts = sigArt(envelope(t, target, key, chain, now))
		res, err := v.Verify(t.Context(), trust.Image{Repo: "registry.example/shop/good", Digest: d.Digest})
		if err != nil {
			t.Fatal(err)
		}
		if res.Trusted() || len(res.Problems) != 1 {
			t.Fatalf("result %+v", res)
		}
		p := res.Problems[0]
		if strings.ContainsAny(p, "\n\x1b") || len(p) > maxProblemBytes+len("…") || !strings.Contains(p, "trustedIdentities") {
			t.Fatalf("problem %q", p)
		}
	})
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests to the OCSP/CRL endpoints", n)
	}
}
