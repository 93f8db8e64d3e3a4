package cosign

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/ferry-dev/ferry/agent/registry"
)

// Annotations of a keyless signature in cosign's tag format.
const (
	rekorAnnotation = "dev.sigstore.cosign/bundle"
	tsaAnnotation   = "dev.sigstore.cosign/rfc3161timestamp"
	// bundleV01 is the bundle version whose rules fit what a tag layer
	// carries: a Rekor entry with its signed entry timestamp and no
	// inclusion proof.
	bundleV01 = "application/vnd.dev.sigstore.bundle+json;version=0.1"
)

// rekorBundle is cosign's dev.sigstore.cosign/bundle annotation.
type rekorBundle struct {
	SignedEntryTimestamp []byte
	Payload              struct {
		Body           string `json:"body"` // base64 of the canonical entry
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"` // hex
	}
}

// tagBundle restates a keyless tag layer as a sigstore bundle, so that
// sigstore-go verifies it as it verifies a referrer: content is a message
// signature over sha256(payload) (.sig) or a DSSE envelope (.att).
func tagBundle(l registry.Layer, sig, payload []byte, env *protodsse.Envelope) (*bundle.Bundle, error) {
	block, _ := pem.Decode([]byte(l.Annotations[certAnnotation]))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("certificate annotation is not a PEM certificate")
	}
	vm := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_X509CertificateChain{X509CertificateChain: &protocommon.X509CertificateChain{
			Certificates: []*protocommon.X509Certificate{{RawBytes: block.Bytes}},
		}},
	}
	if s := l.Annotations[tsaAnnotation]; s != "" {
		var ts struct{ SignedRFC3161Timestamp []byte }
		if err := json.Unmarshal([]byte(s), &ts); err != nil {
			return nil, fmt.Errorf("timestamp annotation: %w", err)
		}
		vm.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: ts.SignedRFC3161Timestamp}},
		}
	}
	if s := l.Annotations[rekorAnnotation]; s != "" {
		tle, err := tlogEntry(s)
		if err != nil {
			return nil, fmt.Errorf("Rekor annotation: %w", err)
		}
		vm.TlogEntries = []*protorekor.TransparencyLogEntry{tle}
	}
	pb := &protobundle.Bundle{MediaType: bundleV01, VerificationMaterial: vm}
	if env != nil {
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env}
	} else {
		sum := sha256.Sum256(payload)
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sum[:]},
			Signature:     sig,
		}}
	}
	return bundle.NewBundle(pb)
}

func tlogEntry(annotation string) (*protorekor.TransparencyLogEntry, error) {
	var rb rekorBundle
	if err := json.Unmarshal([]byte(annotation), &rb); err != nil {
		return nil, err
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("log ID: %w", err)
	}
	var kv struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	return &protorekor.TransparencyLogEntry{
		LogIndex:          rb.Payload.LogIndex,
		LogId:             &protocommon.LogId{KeyId: logID},
		KindVersion:       &protorekor.KindVersion{Kind: kv.Kind, Version: kv.APIVersion},
		IntegratedTime:    rb.Payload.IntegratedTime,
		InclusionPromise:  &protorekor.InclusionPromise{SignedEntryTimestamp: rb.SignedEntryTimestamp},
		CanonicalizedBody: body,
	}, nil
}
