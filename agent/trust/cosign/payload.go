package cosign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/trust"
)

// statement is an in-toto statement (v0.1 or v1) as signed: the predicate
// stays raw JSON, for the policies.
type statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

const (
	inTotoPayloadType = "application/vnd.in-toto+json"
	statementV01      = "https://in-toto.io/Statement/v0.1"
	statementV1       = "https://in-toto.io/Statement/v1"
)

// parseStatement parses a DSSE payload as an in-toto statement. It is only
// given payloads whose signature verified; it still trusts nothing of them.
func parseStatement(payloadType string, payload []byte) (statement, error) {
	var s statement
	if payloadType != inTotoPayloadType {
		return s, fmt.Errorf("payload type %q is not an in-toto statement", payloadType)
	}
	if err := json.Unmarshal(payload, &s); err != nil {
		return s, fmt.Errorf("statement: %w", err)
	}
	if s.Type != statementV1 && s.Type != statementV01 {
		return s, fmt.Errorf("statement type %q is not in-toto's", s.Type)
	}
	if s.PredicateType == "" {
		return s, errors.New("statement has no predicate type")
	}
	if len(s.Subject) == 0 {
		return s, errors.New("statement has no subject")
	}
	return s, nil
}

// names reports whether one of the statement's subjects is the image digest
// (sha256 hex), and otherwise which digest it names.
func (s statement) names(hexDigest string) (bool, string) {
	other := ""
	for _, sub := range s.Subject {
		d, ok := sub.Digest["sha256"]
		if !ok {
			continue
		}
		if strings.EqualFold(d, hexDigest) && len(d) == len(hexDigest) {
			return true, ""
		}
		if other == "" {
			other = "sha256:" + d
		}
	}
	if other == "" {
		other = "no sha256 digest"
	}
	return false, other
}

// predicate is the statement's predicate, "{}" when it has none, compacted.
// signedTime is when the predicate says its work ended (a scan, a build,
// an SBOM's creation), zero when it says none: inside the signed
// statement, unlike a referrer's created annotation, which anyone who can
// push to the registry can set.
func (s statement) signedTime() time.Time {
	var p struct {
		Metadata struct {
			ScanFinishedOn  string `json:"scanFinishedOn"`  // cosign vuln
			BuildFinishedOn string `json:"buildFinishedOn"` // SLSA v0.2
			Timestamp       string `json:"timestamp"`       // CycloneDX
		} `json:"metadata"`
		RunDetails struct {
			Metadata struct {
				FinishedOn string `json:"finishedOn"` // SLSA v1
			} `json:"metadata"`
		} `json:"runDetails"`
		CreationInfo struct {
			Created string `json:"created"` // SPDX
		} `json:"creationInfo"`
	}
	if json.Unmarshal(s.Predicate, &p) != nil {
		return time.Time{}
	}
	for _, v := range []string{p.Metadata.ScanFinishedOn, p.Metadata.BuildFinishedOn, p.RunDetails.Metadata.FinishedOn, p.Metadata.Timestamp, p.CreationInfo.Created} {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func (s statement) predicate() json.RawMessage {
	if len(bytes.TrimSpace(s.Predicate)) == 0 || string(bytes.TrimSpace(s.Predicate)) == "null" {
		return json.RawMessage("{}")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, s.Predicate); err != nil {
		return s.Predicate
	}
	return b.Bytes()
}

// simpleSigning is cosign's signed payload in a .sig tag.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

const simpleSigningKind = "cosign container image signature"

// parseSimpleSigning parses a verified .sig payload and returns the image
// digest it names.
func parseSimpleSigning(payload []byte) (string, error) {
	var s simpleSigning
	if err := json.Unmarshal(payload, &s); err != nil {
		return "", fmt.Errorf("simple signing payload: %w", err)
	}
	if s.Critical.Type != simpleSigningKind {
		return "", fmt.Errorf("simple signing payload of type %q, want %q", s.Critical.Type, simpleSigningKind)
	}
	if s.Critical.Image.DockerManifestDigest == "" {
		return "", errors.New("simple signing payload names no image digest")
	}
	return s.Critical.Image.DockerManifestDigest, nil
}

// AttestationType maps a predicate type to cosign attest's --type name;
// a predicate type without one keeps its URI.
func AttestationType(predicateType string) string {
	switch predicateType {
	case "https://cosign.sigstore.dev/attestation/vuln/v1":
		return trust.AttestVuln
	case "https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1":
		return trust.AttestProvenance
	case "https://spdx.dev/Document":
		return trust.AttestSPDX
	case "https://cyclonedx.org/bom":
		return trust.AttestCycloneDX
	}
	return predicateType
}
