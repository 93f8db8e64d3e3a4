// The Trivy evidence: the image and source scans of a candidate, from a
// referrer, a URL or a file of the fleet repo.

package gate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/trivy"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/trust"
	"github.com/ferry-dev/ferry/internal/httpx"
)

// trivyResult is what one candidate's scans came to: the image scan (the
// one every source gives) and, from referrers, the file-system scan.
type trivyResult struct {
	image, fs           *trivy.Report
	imageWhere, fsWhere string
	notes               []string
	// signed: the image scan is a verified vuln attestation's.
	signed bool
}

// trivySource is input.evidence.trivy: the candidate's scan report.
type trivySource struct{ g *Gate }

func (s trivySource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	cfg := req.App.Evidence.Trivy
	att, signed, err := s.g.vulnAttestation(ctx, req)
	if err != nil {
		return err
	}
	if cfg == nil && !signed {
		return nil
	}
	key := req.App.Name + "\x00" + req.Candidate.Digest
	res, ok := req.Cache.trivy[key]
	if !ok {
		if cfg != nil {
			if res, err = s.read(ctx, req, cfg); err != nil {
				return err
			}
		}
		if signed {
			res = withAttestation(res, att)
		}
		req.Cache.trivy[key] = res
	}
	d.Notes = append(d.Notes, res.notes...)
	if doc := trivyInput(res); doc != nil {
		out["trivy"] = doc
	}
	for _, r := range []struct {
		report *trivy.Report
		label  string
	}{{res.image, res.imageWhere}, {res.fs, res.fsWhere}} {
		if r.report != nil {
			sum := r.report.Summary
			d.Evidence = append(d.Evidence, fmt.Sprintf("trivy %s: CRITICAL=%d HIGH=%d MEDIUM=%d LOW=%d", r.label, sum["CRITICAL"], sum["HIGH"], sum["MEDIUM"], sum["LOW"]))
		}
	}
	return nil
}

// trivyInput is input.evidence.trivy: its summary, fixable, findings and
// source are the image scan's, as they were before scans had kinds, so
// policies written then keep judging the image; image and fs hold each
// scan whole. nil when there is no scan at all. Without an image scan the
// top-level fields are absent, so a rule that needs the image's scan
// fails closed even when the source tree was scanned.
func trivyInput(res trivyResult) map[string]any {
	if res.image == nil && res.fs == nil {
		return nil
	}
	doc := map[string]any{}
	if r := res.image; r != nil {
		doc["summary"], doc["fixable"], doc["findings"], doc["source"] = r.Summary, r.Fixable, r.Findings, r.Source
		doc[KindImage] = r
		doc["signed"] = res.signed
	}
	if res.fs != nil {
		doc[KindFS] = res.fs
	}
	return doc
}

// withAttestation makes a verified vuln attestation the image scan: a
// report anyone who can push to the registry may attach gives way to the
// one a trusted key signed. A predicate that holds no Trivy report is a
// note, and the unsigned scan (signed: false) stays.
func withAttestation(res trivyResult, att trust.Attestation) trivyResult {
	report, err := trivy.ParseVulnPredicate(att.Predicate)
	if err != nil {
		res.notes = append(res.notes, fmt.Sprintf("vuln attestation signed by %s: %v; not used", att.Signer, err))
		return res
	}
	res.image, res.imageWhere, res.signed = &report, "vuln attestation signed by "+att.Signer.String(), true
	// The unsigned report's absence is no news once a signed one is there.
	res.notes = slices.DeleteFunc(res.notes, func(n string) bool { return strings.HasPrefix(n, "no Trivy report") })
	return res
}

func (s trivySource) read(ctx context.Context, req *Request, cfg *config.TrivyEvidence) (trivyResult, error) {
	app, v := req.App, req.Candidate
	limit := cfg.MaxBytes
	if limit <= 0 {
		limit = defaultReportBytes
	}
	timeout := cfg.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	vars := trivy.URLVars{App: app.Name, Image: app.Image, Tag: v.Tag, Digest: v.Digest, Version: v.Tag}
	var data []byte
	var where string
	switch cfg.From {
	case config.TrivyFromURL:
		url, err := trivy.ExpandURL(cfg.URL, vars)
		if err != nil {
			return trivyResult{}, fmt.Errorf("trivy report URL for %s: %w", app.Name, err)
		}
		data, err = trivy.Fetch(ctx, s.g.opts.HTTP, url, limit)
		if errors.Is(err, trivy.ErrNotFound) {
			// Not uploaded (yet): absent, as a missing referrer or file is.
			return trivyResult{notes: []string{fmt.Sprintf("no Trivy report at %s (%v)", httpx.RedactURL(url), err)}}, nil
		}
		if err != nil {
			return trivyResult{}, fmt.Errorf("trivy report of %s %s: %w", app.Name, v, err)
		}
		where = "url"
	case config.TrivyFromFile:
		p, err := Expand("trivy file", cfg.File, vars)
		if err != nil {
			return trivyResult{}, err
		}
		data, err = req.State.Snap.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return trivyResult{notes: []string{fmt.Sprintf("no Trivy report at %s in the fleet repo", p)}}, nil
		}
		if err != nil {
			return trivyResult{}, err
		}
		where = "file " + p
	default:
		return s.referrers(ctx, req, limit)
	}
	// A report that does not parse is an error, not absent evidence: it
	// needs a person, and must not pass for a scan that was never made.
	report, err := trivy.Parse(data)
	if err != nil {
		return trivyResult{}, fmt.Errorf("trivy report of %s %s (%s): %w", app.Name, v, where, err)
	}
	return trivyResult{image: &report, imageWhere: where}, nil
}

// referrers reads the newest attached report of each kind: the image scan
// (a report without a kind is one) and the file-system scan.
func (s trivySource) referrers(ctx context.Context, req *Request, limit int64) (trivyResult, error) {
	app, v := req.App, req.Candidate
	if req.Cache.images == nil {
		return trivyResult{notes: []string{"no registry to read Trivy referrers from"}}, nil
	}
	arts, err := req.Cache.images.Referrers(ctx, app.Image, v.Digest, []string{TrivyReportType, SARIFReportType}, limit, app.Insecure)
	if err != nil {
		return trivyResult{}, fmt.Errorf("trivy referrers of %s@%s: %w", app.Image, v.Digest, err)
	}
	var res trivyResult
	chosen := map[string]time.Time{} // created of the scan taken, per kind
	for _, a := range arts {         // newest first: the first of each kind wins
		kind := ScanKind(a.Annotations)
		var parsed *trivy.Report
		if a.Annotations[KindAnnotation] == "" {
			// Attached by another tool (oras, cosign) without ferry's kind:
			// a report that says it scanned a source tree is the fs scan,
			// never a stand-in for a missing image scan.
			r, err := trivy.Parse(a.Data)
			if err != nil {
				return trivyResult{}, fmt.Errorf("trivy report of %s %s (referrer %s): %w", app.Name, v, a.Digest, err)
			}
			if r.Scanned.Type == "filesystem" || r.Scanned.Type == "repository" {
				kind = KindFS
			}
			parsed = &r
		}
		var dst **trivy.Report
		var where *string
		switch kind {
		case KindImage:
			dst, where = &res.image, &res.imageWhere
		case KindFS:
			dst, where = &res.fs, &res.fsWhere
		default:
			continue // another tool's kind: not a scan ferry knows how to weigh
		}
		// An older scan loses; one as new (scans attached in the same
		// second by a tool that dates to the second) is weighed: the worse
		// of the two counts, so a tie never hides a finding.
		if *dst != nil && !a.Created.Equal(chosen[kind]) {
			continue
		}
		report := parsed
		if report == nil {
			r, err := trivy.Parse(a.Data)
			if err != nil {
				return trivyResult{}, fmt.Errorf("trivy report of %s %s (%s referrer %s): %w", app.Name, v, kind, a.Digest, err)
			}
			report = &r
		}
		if *dst != nil && !worse(*report, **dst) {
			continue
		}
		chosen[kind] = a.Created
		*dst = report
		*where = "referrer " + a.Digest
		if kind == KindFS {
			*where = "fs referrer " + a.Digest
		}
	}
	short := ledger.ShortDigest(v.Digest)
	switch {
	case res.image == nil && res.fs == nil:
		res.notes = append(res.notes, fmt.Sprintf("no Trivy report is attached to %s@%s", app.Image, short))
	case res.image == nil:
		res.notes = append(res.notes, fmt.Sprintf("no Trivy image scan is attached to %s@%s (only a file-system scan)", app.Image, short))
	}
	return res, nil
}

// worse says whether a has more findings than b at the most severe level
// where they differ.
func worse(a, b trivy.Report) bool {
	for _, sev := range []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"} {
		if a.Summary[sev] != b.Summary[sev] {
			return a.Summary[sev] > b.Summary[sev]
		}
	}
	return false
}
