//go:build tools

// Package tools pins the cosign CLI the supply-chain tests sign and attest
// with, as a user's CI would; e2e/cosign/build.sh builds it once.
package tools

import _ "github.com/sigstore/cosign/v3/cmd/cosign"
