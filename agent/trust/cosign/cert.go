package cosign

import (
	"crypto/x509"

	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// certSubject is a certificate's SAN and issuer for a Problem, before
// anything about it is verified.
func certSubject(c *x509.Certificate) string {
	s, err := certificate.SummarizeCertificate(c)
	if err != nil {
		return ""
	}
	if s.Issuer != "" {
		return s.SubjectAlternativeName + " (" + s.Issuer + ")"
	}
	return s.SubjectAlternativeName
}
