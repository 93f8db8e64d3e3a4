// The supply-chain evidence: the candidate's verified signatures
// (input.candidate.signatures) and signed attestations
// (input.evidence.attestations), for the apps with a verify: block.

package gate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/trust"
)

// Trust verifies an app's image at a digest (trust.Checker).
type Trust interface {
	Verifies(app string) bool
	Check(ctx context.Context, app *config.App, digest string) (trust.Result, error)
}

// verified returns what the candidate's verification found, asking once
// per pass, with its attestations narrowed to the newest of each type
// (what the policies see); ok is false when the app is not verified.
func (g *Gate) verified(ctx context.Context, req *Request) (res trust.Result, ok bool, err error) {
	if g.opts.Trust == nil || !g.opts.Trust.Verifies(req.App.Name) {
		return trust.Result{}, false, nil
	}
	key := req.App.Name + "\x00" + req.Candidate.Digest
	if r, ok := req.Cache.trust[key]; ok {
		return r, true, nil
	}
	r, err := g.opts.Trust.Check(ctx, req.App, req.Candidate.Digest)
	if err != nil {
		return r, true, fmt.Errorf("verify %s %s: %w", req.App.Name, req.Candidate, err)
	}
	// Narrowed once here: the attestation and the Trivy sources both read it.
	r.Attestations = newestAttestations(r.Attestations)
	req.Cache.trust[key] = r
	return r, true, nil
}

// trustInput sets input.candidate.signatures and input.app.verify for a
// verified app, and the decision's Ferry-Signed-By lines. A candidate
// without a verified signature is denied whatever the policies say
// (d.untrusted): a tag that is never a candidate from the registry must
// not become one through an overlay a person edited.
func (g *Gate) trustInput(ctx context.Context, req *Request, app, candidate map[string]any, d *Decision) error {
	res, ok, err := g.verified(ctx, req)
	if err != nil || !ok {
		return err
	}
	sigs := make([]any, 0, len(res.Signatures))
	for _, s := range res.Signatures {
		sigs = append(sigs, signatureInput(s))
		d.SignedBy = append(d.SignedBy, s.String())
	}
	candidate["signatures"] = sigs
	builders := make([]any, 0, len(req.App.Verify.Builders))
	for _, b := range req.App.Verify.Builders {
		builders = append(builders, b)
	}
	app["verify"] = map[string]any{"builders": builders}
	for _, p := range res.Problems {
		d.Notes = append(d.Notes, "verification: "+p)
	}
	switch {
	case res.Trusted():
	case req.Candidate.Digest == "":
		d.untrusted = fmt.Sprintf("%s %s has no digest: a signature is made over a digest, so ferry trusts only a pinned version (put the digest in the overlay)",
			req.App.Name, req.Candidate.Tag)
	default:
		d.untrusted = fmt.Sprintf("%s %s (%s) carries no signature that verifies: %s; sign it with a key or identity that verify: in ferry.yaml trusts",
			req.App.Name, req.Candidate.Tag, ledger.ShortDigest(req.Candidate.Digest), res.Why())
	}
	return nil
}

func signatureInput(s trust.Signature) map[string]any {
	m := map[string]any{"kind": s.Kind, "signer": s.Signer}
	for k, v := range map[string]string{"issuer": s.Issuer, "key": s.Key, "format": s.Format} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// attestationSource is input.evidence.attestations: the newest verified
// attestation of each type, with its signer; unverified ones never reach
// the policies.
type attestationSource struct{ g *Gate }

func (s attestationSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	res, ok, err := s.g.verified(ctx, req)
	if err != nil || !ok {
		return err
	}
	if res.Incomplete != "" {
		if len(res.Attestations) > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("signed attestations not used: some of what is attached could not be read (%s), and a newer one may be among it", res.Incomplete))
		}
		return nil
	}
	docs := map[string]any{}
	for _, a := range res.Attestations {
		doc := map[string]any{"type": a.Type, "predicateType": a.PredicateType, "signer": signatureInput(a.Signer)}
		if !a.Created.IsZero() {
			doc["created"] = a.Created.UTC().Format("2006-01-02T15:04:05Z07:00")
		}
		var pred any
		dec := json.NewDecoder(bytes.NewReader(a.Predicate))
		dec.UseNumber()
		if err := dec.Decode(&pred); err != nil {
			d.Notes = append(d.Notes, fmt.Sprintf("attestation %s signed by %s: its predicate is not JSON (%v); not used", a.Type, a.Signer, err))
			continue
		}
		doc["predicate"] = pred
		if a.Type == trust.AttestProvenance {
			if id := builderID(pred); id != "" {
				doc["builder"] = id
			}
		}
		docs[a.Type] = doc
		d.Evidence = append(d.Evidence, fmt.Sprintf("attestation %s signed by %s", a.Type, a.Signer))
	}
	if len(docs) > 0 {
		out["attestations"] = docs
	}
	return nil
}

// newestAttestations keeps one attestation per type: the newest by its
// signed time (undated ones count as oldest). Of two vuln scans as new,
// the worse counts, so a tie never hides a finding; of others, the first.
func newestAttestations(atts []trust.Attestation) []trust.Attestation {
	byType := map[string]trust.Attestation{}
	var order []string
	for _, a := range atts {
		cur, seen := byType[a.Type]
		if !seen {
			order = append(order, a.Type)
		}
		if !seen || a.Created.After(cur.Created) || a.Created.Equal(cur.Created) && a.Type == trust.AttestVuln && worseScan(a, cur) {
			byType[a.Type] = a
		}
	}
	slices.Sort(order)
	out := make([]trust.Attestation, 0, len(order))
	for _, t := range order {
		out = append(out, byType[t])
	}
	return out
}

// worseScan reports whether vuln attestation a holds a worse scan than b;
// one whose report does not parse is not worse (it is refused later).
func worseScan(a, b trust.Attestation) bool {
	ra, err := trivy.ParseVulnPredicate(a.Predicate)
	if err != nil {
		return false
	}
	rb, err := trivy.ParseVulnPredicate(b.Predicate)
	return err != nil || worse(ra, rb)
}

// builderID is the SLSA provenance's builder: builder.id in v0.2,
// runDetails.builder.id in v1.
func builderID(pred any) string {
	get := func(v any, keys ...string) any {
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		}
		return v
	}
	id, _ := get(pred, "runDetails", "builder", "id").(string)
	v02, _ := get(pred, "builder", "id").(string)
	return cmp.Or(id, v02)
}

// vulnAttestation is the candidate's newest verified vuln attestation
// (cosign attest --type vuln), if any.
func (g *Gate) vulnAttestation(ctx context.Context, req *Request) (trust.Attestation, bool, error) {
	res, ok, err := g.verified(ctx, req)
	if err != nil || !ok || res.Incomplete != "" {
		return trust.Attestation{}, false, err
	}
	for _, a := range res.Attestations {
		if a.Type == trust.AttestVuln {
			return a, true, nil
		}
	}
	return trust.Attestation{}, false, nil
}
