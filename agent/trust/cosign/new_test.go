package cosign

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
)

func writeTrust(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestNewLoadsKeys(t *testing.T) {
	dir := t.TempDir()
	s := newSigner(t)
	pub := string(s.pem(t))
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(ed)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.Public())
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKIXPublicKey(rk.Public())
	// As cosign generate-key-pair k8s://ns/name writes it (data, base64).
	secretData := "apiVersion: v1\nkind: Secret\nmetadata: {name: cosign, namespace: ci}\ntype: Opaque\ndata:\n  cosign.key: c2VjcmV0\n  cosign.password: \"\"\n  cosign.pub: " + b64([]byte(pub)) + "\n"
	secretString := "apiVersion: v1\nkind: Secret\nmetadata: {name: cosign}\nstringData:\n  cosign.pub: |\n" + indent(pub, "    ")
	for name, content := range map[string]string{
		"p256.pub":            pub,
		"ed25519.pub":         pemOf(t, "PUBLIC KEY", edDER),
		"p384.pub":            pemOf(t, "PUBLIC KEY", p384DER),
		"rsa.pub":             pemOf(t, "PUBLIC KEY", rsaDER),
		"secret-data.yaml":    secretData,
		"secret-strings.yaml": secretString,
	} {
		t.Run(name, func(t *testing.T) {
			p := writeTrust(t, dir, name, content)
			v, err := New(&config.CosignTrust{Keys: []string{p}}, registry.NewClient(registry.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			if len(v.keys) != 1 || v.keys[0].path != p {
				t.Fatalf("keys %+v", v.keys)
			}
			if strings.HasPrefix(name, "secret") && v.keys[0].fingerprint != s.fingerprint(t) {
				t.Errorf("fingerprint %s, want the Secret's key's %s", v.keys[0].fingerprint, s.fingerprint(t))
			}
		})
	}
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return pre + strings.Join(lines, pre) + "\n"
}

func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	s := newSigner(t)
	goodKey := writeTrust(t, dir, "good.pub", string(s.pem(t)))
	privDER, _ := x509.MarshalECPrivateKey(s.priv)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakDER, _ := x509.MarshalPKIXPublicKey(weak.Public())
	f := newFulcio(t)
	goodRoot := f.trustedRoot(t, dir)
	id := []config.SignerIdentity{{Issuer: issuer, Subject: ciID}}
	file := func(name, content string) string { return writeTrust(t, dir, name, content) }

	for _, tc := range []struct {
		name string
		cfg  config.CosignTrust
		want []string // substrings of the error
	}{
		{"nothing", config.CosignTrust{}, []string{"neither keys nor a trustedRoot"}},
		{"missing key file", config.CosignTrust{Keys: []string{filepath.Join(dir, "absent.pub")}}, []string{"absent.pub", "no such file"}},
		{"garbage key", config.CosignTrust{Keys: []string{file("garbage.pub", "hello")}}, []string{"garbage.pub", "neither a PEM public key nor"}},
		{"private key", config.CosignTrust{Keys: []string{file("priv.pem", pemOf(t, "EC PRIVATE KEY", privDER))}}, []string{"priv.pem", `"EC PRIVATE KEY"`, "not a trusted key"}},
		{"bad DER", config.CosignTrust{Keys: []string{file("bad.pub", pemOf(t, "PUBLIC KEY", []byte("nope")))}}, []string{"bad.pub", "parse public key"}},
		{"weak RSA", config.CosignTrust{Keys: []string{file("weak.pub", pemOf(t, "PUBLIC KEY", weakDER))}}, []string{"weak.pub", "1024 bits is too small"}},
		{"Secret without cosign.pub", config.CosignTrust{Keys: []string{file("s1.yaml", "kind: Secret\ndata: {cosign.key: eA==}\n")}}, []string{"s1.yaml", "no cosign.pub"}},
		{"Secret with bad base64", config.CosignTrust{Keys: []string{file("s2.yaml", "kind: Secret\ndata: {cosign.pub: '!!!'}\n")}}, []string{"s2.yaml", "not base64"}},
		{"Secret with no PEM", config.CosignTrust{Keys: []string{file("s3.yaml", "kind: Secret\nstringData: {cosign.pub: hello}\n")}}, []string{"s3.yaml", "not PEM"}},
		{"ConfigMap", config.CosignTrust{Keys: []string{file("cm.yaml", "kind: ConfigMap\ndata: {cosign.pub: x}\n")}}, []string{"cm.yaml", "kind: Secret"}},
		{"PEM with bad base64", config.CosignTrust{Keys: []string{file("badb64.pub", "-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n")}}, []string{"badb64.pub", "a PEM block that does not decode"}},
		{"YAML garbage", config.CosignTrust{Keys: []string{file("y.yaml", "kind: [\n")}}, []string{"y.yaml", "neither a PEM public key nor a Secret manifest"}},
		{"second key bad", config.CosignTrust{Keys: []string{goodKey, file("second.pub", "x")}}, []string{"second.pub"}},
		{"root without identities", config.CosignTrust{TrustedRoot: goodRoot}, []string{goodRoot, "identities are required"}},
		{"identities without root", config.CosignTrust{Keys: []string{goodKey}, Identities: id}, []string{"identities need a trustedRoot"}},
		{"garbage root", config.CosignTrust{TrustedRoot: file("root.json", "{]"), Identities: id}, []string{"root.json"}},
		{"empty root", config.CosignTrust{TrustedRoot: file("empty.json", `{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), Identities: id}, []string{"empty.json", "no certificate authorities"}},
		{"missing root", config.CosignTrust{TrustedRoot: filepath.Join(dir, "nope.json"), Identities: id}, []string{"nope.json", "no such file"}},
		{"identity without issuer", config.CosignTrust{TrustedRoot: goodRoot, Identities: []config.SignerIdentity{{Subject: ciID}}}, []string{"identities[0]", "issuer"}},
		{"identity with both subjects", config.CosignTrust{TrustedRoot: goodRoot, Identities: []config.SignerIdentity{{Issuer: issuer, Subject: ciID, SubjectRegExp: "x"}}}, []string{"identities[0]", "exactly one of subject and subjectRegExp"}},
		{"bad regexp", config.CosignTrust{TrustedRoot: goodRoot, Identities: []config.SignerIdentity{id[0], {IssuerRegExp: "(", Subject: ciID}}}, []string{"identities[1]", "issuerRegExp", "missing closing )"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(&tc.cfg, registry.NewClient(registry.Options{}))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestAttestationType(t *testing.T) {
	for in, want := range map[string]string{
		"https://cosign.sigstore.dev/attestation/vuln/v1": "vuln",
		"https://slsa.dev/provenance/v0.2":                "slsaprovenance",
		"https://slsa.dev/provenance/v1":                  "slsaprovenance",
		"https://spdx.dev/Document":                       "spdxjson",
		"https://cyclonedx.org/bom":                       "cyclonedx",
		"https://example.com/x/v1":                        "https://example.com/x/v1",
	} {
		if got := AttestationType(in); got != want {
			t.Errorf("AttestationType(%s) = %s, want %s", in, got, want)
		}
	}
}
