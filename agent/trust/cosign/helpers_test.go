package cosign

import (
	"context"

	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ferry-dev/ferry/internal/registrytest"
)

// startRegistry is the real distribution registry (registrytest).
func startRegistry(t testing.TB) string { return registrytest.Start(t) }

// pushImage writes a random image to host/repo:tag and returns its digest.
func pushImage(t testing.TB, host, repo string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host+"/"+repo+":1.0.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

// signer is a key pair whose public half may be written as a key file.
type signer struct {
	priv *ecdsa.PrivateKey
}

func newSigner(t testing.TB) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{k}
}

func (s signer) pem(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func (s signer) write(t testing.TB, dir, file string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, s.pem(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s signer) fingerprint(t testing.TB) string {
	t.Helper()
	fp, err := Fingerprint(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// sign signs msg's SHA-256, as cosign's ECDSA keys do.
func (s signer) sign(t testing.TB, msg []byte) []byte {
	t.Helper()
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// statementJSON is an in-toto v1 statement about sha256:hexDigest.
func statementJSON(hexDigest, predicateType, predicate string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry/shop/app","digest":{"sha256":%q}}],"predicateType":%q,"predicate":%s}`,
		strings.TrimPrefix(hexDigest, "sha256:"), predicateType, predicate)
}

// signBundleDSSE makes a v0.3 bundle of a DSSE envelope of statement,
// signed by s and carrying only its key hint, as cosign sign --key does
// with --tlog-upload=false.
func signBundleDSSE(t testing.TB, s signer, statement []byte) []byte {
	t.Helper()
	sig := s.sign(t, dsse.PAE(inTotoPayloadType, statement))
	return marshalBundle(t, &protobundle.Bundle{
		MediaType: BundleType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "any"}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: inTotoPayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	})
}

// signBundleMessage makes a v0.3 bundle of a message signature over the
// digest d (sha256:<hex>).
func signBundleMessage(t testing.TB, s signer, d string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.TrimPrefix(d, "sha256:"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, raw)
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, &protobundle.Bundle{
		MediaType: BundleType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "any"}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: raw},
			Signature:     sig,
		}},
	})
}

func marshalBundle(t testing.TB, b *protobundle.Bundle) []byte {
	t.Helper()
	out, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fulcio is a private keyless deployment: a Fulcio-like CA this test
// controls and sigstore-go's virtual timestamp authority.
type fulcio struct {
	rootCert *x509.Certificate
	interm   *x509.Certificate
	intKey   *ecdsa.PrivateKey
	virtual  *ca.VirtualSigstore
}

func newFulcio(t testing.TB) *fulcio {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	rc, rk, err := ca.GenerateRootCa()
	if err != nil {
		t.Fatal(err)
	}
	ic, ik, err := ca.GenerateFulcioIntermediate(rc, rk)
	if err != nil {
		t.Fatal(err)
	}
	return &fulcio{rootCert: rc, interm: ic, intKey: ik, virtual: vs}
}

// trustedRoot writes trusted_root.json with the two CAs (this test's and
// the virtual one's), the timestamp authority and the Rekor log (no CT log:
// the private deployment has none, so no SCTs are required).
func (f *fulcio) trustedRoot(t testing.TB, dir string) string {
	t.Helper()
	fca := &root.FulcioCertificateAuthority{
		Root: f.rootCert, Intermediates: []*x509.Certificate{f.interm},
		ValidityPeriodStart: time.Now().Add(-24 * time.Hour), URI: "https://fulcio.example",
	}
	cas := append([]root.CertificateAuthority{fca}, f.virtual.FulcioCertificateAuthorities()...)
	// The virtual log's ID is its hex key ID as bytes; trusted_root.json
	// carries the raw key ID, which entries name.
	logs := map[string]*root.TransparencyLog{}
	for id, l := range f.virtual.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		c := *l
		c.ID = raw
		logs[id] = &c
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, cas, nil, f.virtual.TimestampingAuthorities(), logs)
	if err != nil {
		t.Fatal(err)
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// keyless signs statement with a fresh key and a certificate for subject
// and issuer valid from notBefore for ten minutes; withTimestamp adds the
// timestamp authority's RFC 3161 timestamp (now) of the signature.
func (f *fulcio) keyless(t testing.TB, subject, issuer string, notBefore time.Time, statement []byte, withTimestamp bool) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.GenerateLeafCert(subject, issuer, notBefore, k, f.interm, f.intKey)
	if err != nil {
		t.Fatal(err)
	}
	sig := signer{k}.sign(t, dsse.PAE(inTotoPayloadType, statement))
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: cert.Raw}},
	}
	if withTimestamp {
		ts, err := f.virtual.TimestampResponse(sig)
		if err != nil {
			t.Fatal(err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts}},
		}
	}
	return marshalBundle(t, &protobundle.Bundle{
		MediaType:            BundleType,
		VerificationMaterial: vm,
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: statement, PayloadType: inTotoPayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	})
}

// keylessLogged signs statement with a certificate of the virtual CA and
// logs it in the virtual Rekor, whose signed entry timestamp is the only
// time the bundle carries.
func (f *fulcio) keylessLogged(t testing.TB, subject, issuer string, statement []byte) []byte {
	t.Helper()
	// Logged within the certificate's ten minutes, with an inclusion proof
	// (bundles from v0.2 on need one) and its signed entry timestamp.
	e, err := f.virtual.AttestAtTime(subject, issuer, statement, time.Now().Add(time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	env := sc.EnvelopeContent().RawEnvelope()
	tl, _ := e.TlogEntries()
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	return marshalBundle(t, &protobundle.Bundle{
		MediaType: BundleType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content:     &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw}},
			TlogEntries: []*protorekor.TransparencyLogEntry{f.promised(t, tl[0].TransparencyLogEntry())},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	})
}

// promised completes the virtual Rekor's entry as a bundle carries it:
// its kind and its signed entry timestamp (the inclusion promise).
func (f *fulcio) promised(t testing.TB, tle *protorekor.TransparencyLogEntry) *protorekor.TransparencyLogEntry {
	t.Helper()
	set, err := f.virtual.RekorSignPayload(tlog.RekorPayload{
		LogID: hex.EncodeToString(tle.LogId.KeyId), IntegratedTime: tle.IntegratedTime, LogIndex: tle.LogIndex,
		Body: base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
	})
	if err != nil {
		t.Fatal(err)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(tle.CanonicalizedBody, &kv); err != nil {
		t.Fatal(err)
	}
	tle.KindVersion = &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: set}
	return tle
}

// pushReferrer attaches data as a referrer of host/repo@subject the way
// cosign does: artifactType and layer media type typ, empty config.
func pushReferrer(t testing.TB, host, repo, subject, typ string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	sref, err := name.NewDigest(host+"/"+repo+"@"+subject, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := remote.Head(sref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	layer := static.NewLayer(data, types.MediaType(typ))
	config := static.NewLayer([]byte("{}"), types.OCIEmptyJSON)
	ld, _ := partial.Descriptor(layer)
	cd, _ := partial.Descriptor(config)
	m := v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: typ,
		Config: *cd, Layers: []v1.Descriptor{*ld},
		Annotations: map[string]string{"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339Nano)},
		Subject:     &v1.Descriptor{MediaType: sd.MediaType, Digest: sd.Digest, Size: sd.Size},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	img, err := partial.CompressedToImage(rawArtifact{raw: raw, config: config, layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := img.Digest()
	if err := remote.Write(sref.Context().Digest(h.String()), img, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	return h.String()
}

type rawArtifact struct {
	raw           []byte
	config, layer v1.Layer
}

func (a rawArtifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a rawArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a rawArtifact) RawConfigFile() ([]byte, error)      { return []byte("{}"), nil }
func (a rawArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range []v1.Layer{a.config, a.layer} {
		if d, _ := l.Digest(); d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// tagLayer is one layer of a cosign .sig or .att tag.
type tagLayer struct {
	mediaType   string
	data        []byte
	annotations map[string]string
}

// pushTag writes cosign's sha256-<hex><suffix> tag of subject with layers.
func pushTag(t testing.TB, host, repo, subject, suffix string, layers ...tagLayer) {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range layers {
		var err error
		img, err = mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(l.data, types.MediaType(l.mediaType)), Annotations: l.annotations})
		if err != nil {
			t.Fatal(err)
		}
	}
	ref, err := name.NewTag(host+"/"+repo+":"+strings.Replace(subject, ":", "-", 1)+suffix, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// simpleSigningJSON is cosign's .sig payload naming digest.
func simpleSigningJSON(repo, digest string) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, repo, digest)
}

// sigLayer is a .sig layer of payload signed by s.
func sigLayer(t testing.TB, s signer, payload []byte) tagLayer {
	t.Helper()
	return tagLayer{simpleSigningType, payload, map[string]string{sigAnnotation: b64(s.sign(t, payload))}}
}

// attLayer is a .att layer: a DSSE envelope of statement signed by s.
func attLayer(t testing.TB, s signer, statement []byte) tagLayer {
	t.Helper()
	env := dsse.Envelope{PayloadType: inTotoPayloadType, Payload: b64(statement),
		Signatures: []dsse.Signature{{Sig: b64(s.sign(t, dsse.PAE(inTotoPayloadType, statement)))}}}
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return tagLayer{dsseLayerType, data, map[string]string{sigAnnotation: "", "predicateType": "x"}}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// keylessTag is a keyless .sig layer (payload non-nil) or .att layer
// (statement non-nil) in cosign's tag format: the signature and the
// certificate in annotations, with the timestamp authority's timestamp
// when withTimestamp.
func (f *fulcio) keylessTag(t testing.TB, subject, issuer string, notBefore time.Time, payload, statement []byte, withTimestamp bool) tagLayer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.GenerateLeafCert(subject, issuer, notBefore, k, f.interm, f.intKey)
	if err != nil {
		t.Fatal(err)
	}
	var l tagLayer
	var sig []byte
	if payload != nil {
		sig = signer{k}.sign(t, payload)
		l = tagLayer{simpleSigningType, payload, map[string]string{sigAnnotation: b64(sig)}}
	} else {
		l = attLayer(t, signer{k}, statement)
		var env dsse.Envelope
		_ = json.Unmarshal(l.data, &env)
		sig, _ = base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	}
	l.annotations[certAnnotation] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	if withTimestamp {
		ts, err := f.virtual.TimestampResponse(sig)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": ts})
		l.annotations[tsaAnnotation] = string(a)
	}
	return l
}

// loggedTagSig is a keyless .sig layer whose only time is the virtual
// Rekor's entry (a hashedrekord with its signed entry timestamp), as
// cosign v2 writes one by default.
func (f *fulcio) loggedTagSig(t testing.TB, subject, issuer string, payload []byte) tagLayer {
	t.Helper()
	e, err := f.virtual.SignAtTime(subject, issuer, payload, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := e.VerificationContent()
	sc, _ := e.SignatureContent()
	tl, _ := e.TlogEntries()
	tle := f.promised(t, tl[0].TransparencyLogEntry())
	rb := map[string]any{
		"SignedEntryTimestamp": tle.InclusionPromise.SignedEntryTimestamp,
		"Payload": map[string]any{
			"body": base64.StdEncoding.EncodeToString(tle.CanonicalizedBody), "integratedTime": tle.IntegratedTime,
			"logIndex": tle.LogIndex, "logID": hex.EncodeToString(tle.LogId.KeyId),
		},
	}
	a, _ := json.Marshal(rb)
	return tagLayer{simpleSigningType, payload, map[string]string{
		sigAnnotation:   b64(sc.Signature()),
		certAnnotation:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vc.Certificate().Raw})),
		rekorAnnotation: string(a),
	}}
}
