// Validation of supply-chain trust: the apps' verify: blocks, and
// git.signing and git.verifyCommits.

package config

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

// checkTrust checks a verify: block's shape; the key, root and trust
// policy files are read (and refused with their own errors) when the
// verifiers are built, since they live outside ferry.yaml.
func checkTrust(ps *problems, base string, v *ImageTrust) {
	if v.Cosign == nil && v.Notation == nil {
		ps.add(base, "verify needs cosign or notation (or both): with neither, no signature could ever verify")
	}
	if c := v.Cosign; c != nil {
		cb := joinPath(base, "cosign")
		if len(c.Keys) == 0 && c.TrustedRoot == "" {
			ps.add(cb, "cosign needs keys (public key files) or trustedRoot with identities")
		}
		for i, k := range c.Keys {
			if strings.TrimSpace(k) == "" {
				ps.add(indexPath(joinPath(cb, "keys"), i), "empty key file path")
			}
		}
		if c.TrustedRoot != "" && len(c.Identities) == 0 {
			ps.add(joinPath(cb, "identities"), "trustedRoot needs identities: without them any certificate the root issued would verify")
		}
		if c.TrustedRoot == "" && len(c.Identities) > 0 {
			ps.add(joinPath(cb, "trustedRoot"), "identities need trustedRoot, the sigstore trusted_root.json their certificates chain to")
		}
		for i, id := range c.Identities {
			ib := indexPath(joinPath(cb, "identities"), i)
			checkIdentityPart(ps, ib, "issuer", id.Issuer, id.IssuerRegExp)
			checkIdentityPart(ps, ib, "subject", id.Subject, id.SubjectRegExp)
		}
	}
	if n := v.Notation; n != nil {
		nb := joinPath(base, "notation")
		if n.TrustPolicy == "" {
			ps.add(joinPath(nb, "trustPolicy"), "required: notation's trustpolicy.json")
		}
		if n.TrustStore == "" {
			ps.add(joinPath(nb, "trustStore"), "required: the trust store directory (x509/ca/NAME/*.pem)")
		}
	}
	for i, b := range v.Builders {
		if strings.TrimSpace(b) == "" {
			ps.add(indexPath(joinPath(base, "builders"), i), "empty builder id")
		}
	}
}

// checkIdentityPart wants exactly one of an exact value and a regexp
// that compiles.
func checkIdentityPart(ps *problems, base, field, exact, re string) {
	switch {
	case exact == "" && re == "":
		ps.add(base, "needs %s or %sRegExp", field, field)
	case exact != "" && re != "":
		ps.add(base, "%s and %sRegExp: give one", field, field)
	case re != "":
		if _, err := regexp.Compile(re); err != nil {
			ps.add(joinPath(base, field+"RegExp"), "%s does not compile: %v", quote(re), err)
		}
	}
}

// validateCommitSigning checks git.signing and git.verifyCommits; the key
// files themselves are read (and refused with their reason) at start.
func (p *Pipeline) validateCommitSigning(ps *problems) {
	if sg := p.Git.Signing; sg != nil {
		switch {
		case sg.SSHKeyFile == "" && sg.OpenPGPKeyFile == "":
			ps.add("git.signing", "names no key; set sshKeyFile or openpgpKeyFile")
		case sg.SSHKeyFile != "" && sg.OpenPGPKeyFile != "":
			ps.add("git.signing", "set one of sshKeyFile and openpgpKeyFile, not both")
		}
	}
	vc := p.Git.VerifyCommits
	if vc == nil {
		return
	}
	if vc.Mode != "" && !slices.Contains(VerifyCommitsModes, vc.Mode) {
		ps.add("git.verifyCommits.mode", "%s is not one of %s", quote(vc.Mode), strings.Join(VerifyCommitsModes, ", "))
	}
	for _, f := range []struct{ key, v string }{{"git.verifyCommits.allowedSigners", vc.AllowedSigners}, {"git.verifyCommits.keyring", vc.Keyring}} {
		if f.v != "" && (!fs.ValidPath(f.v) || f.v == ".") {
			ps.add(f.key, "%s is not a clean path relative to the fleet repo's root", quote(f.v))
		}
	}
	if m := p.Git.CommitVerification().Mode; m != "off" {
		if vc.AllowedSigners == "" && vc.Keyring == "" {
			ps.add("git.verifyCommits", "mode %s needs allowedSigners or keyring", m)
		}
		// ferry's own commits set most versions: unsigned, they would all
		// fail the check.
		if p.Git.Signing == nil {
			ps.add("git.verifyCommits", "mode %s needs git.signing, so that ferry's own commits verify", m)
		}
	}
}
