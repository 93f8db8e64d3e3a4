package gitstate

import (
	"regexp"
	"time"
	"unicode/utf8"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ferry-dev/ferry/internal/dnslabel"
)

// RejectionsFile is where the fleet repo keeps rejected versions.
const RejectionsFile = ".ferry/rejected.yaml"

const (
	rejectionsKind = "Rejections"
	rejectionsKey  = "rejected"
)

// versionText is the OCI tag grammar plus '+', for semver build metadata.
// App, environment and freeze names follow ferry.yaml's rule (dnslabel).
var versionText = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}$`)

// Rejection is one version of an app that no environment may receive.
type Rejection struct {
	App     string
	Version string
	Digest  string    // when set, only this digest of Version is rejected
	Env     string    // where it failed; informational, the rejection holds everywhere
	Reason  string    // why, for people and policies
	At      time.Time // when it was rejected; zero when not recorded
	By      string    // "ferry" or a person
}

// Rejections is a parsed .ferry/rejected.yaml.
type Rejections struct {
	Source   string // where it was read from, as given to ParseRejections
	Rejected []Rejection
}

// ParseRejections decodes a rejections file strictly. source names it in
// errors ("<source>:<line>:<col>: <reason>"). Empty data, or only
// comments, is a file with no rejections.
func ParseRejections(source string, data []byte) (*Rejections, error) {
	rs, _, err := parseRejections(source, data)
	return rs, err
}

func parseRejections(source string, data []byte) (*Rejections, *document, error) {
	doc, err := parseDocument(source, data, rejectionsKind, rejectionsKey)
	if err != nil {
		return nil, nil, err
	}
	ps := newProblems(source)
	rs := &Rejections{Source: source}
	for i, n := range doc.items {
		path := indexPath(rejectionsKey, i)
		var app, version, digest, env, reason, at, by scalar
		before := ps.Len()
		decodeMap(ps, n, path, []field{
			{name: "app", s: &app}, {name: "version", s: &version}, {name: "digest", s: &digest},
			{name: "env", s: &env}, {name: "reason", s: &reason}, {name: "at", s: &at}, {name: "by", s: &by},
		}, nil)
		shapeOK := ps.Len() == before
		r := Rejection{App: app.text, Version: version.text, Digest: digest.text, Env: env.text, Reason: reason.text, By: by.text}
		if at.ok {
			r.At = parseTime(ps, at, joinPath(path, "at"), "")
		}
		if shapeOK {
			written := map[string]scalar{"app": app, "version": version, "digest": digest, "env": env, "by": by}
			checkRejection(r, located(ps, path, nodePos(n), written))
		}
		rs.Rejected = append(rs.Rejected, r)
	}
	if err := ps.err(); err != nil {
		return nil, nil, err
	}
	return rs, doc, nil
}

// complaint reports a problem with one field of an entry.
type complaint func(field, format string, args ...any)

// located reports problems at the field when it was written, else at the entry.
func located(ps *problems, path string, entry pos, written map[string]scalar) complaint {
	return func(field, format string, args ...any) {
		at := entry
		if s, ok := written[field]; ok && s.at.line > 0 {
			at = s.at
		}
		ps.add(at, joinPath(path, field), format, args...)
	}
}

// checkRejection is shared by the parser and AddRejection.
func checkRejection(r Rejection, bad complaint) {
	checkName(bad, "app", r.App, true)
	switch {
	case r.Version == "":
		bad("version", "required")
	case !versionText.MatchString(r.Version):
		bad("version", "%s is not a version (letters, digits and '_', '.', '-', '+'; at most 128)", dnslabel.Quote(r.Version))
	}
	if r.Digest != "" {
		if _, err := v1.NewHash(r.Digest); err != nil {
			bad("digest", "%q is not a digest such as sha256:<64 hex digits>", r.Digest)
		}
	}
	checkName(bad, "env", r.Env, false)
	checkText(bad, "reason", r.Reason)
	checkText(bad, "by", r.By)
}

func checkName(bad complaint, field, name string, required bool) {
	switch {
	case name == "" && required:
		bad(field, "required")
	case name != "":
		if msg := dnslabel.Check(name); msg != "" {
			bad(field, "%s", msg)
		}
	}
}

// checkText guards values that come from code rather than a parsed file.
func checkText(bad complaint, field, s string) {
	if !utf8.ValidString(s) {
		bad(field, "not valid UTF-8")
	}
}

// parseTime reads an RFC 3339 time such as 2026-11-25T18:00:00Z; or
// names what else the field accepts.
func parseTime(ps *problems, s scalar, path, or string) time.Time {
	t, err := time.Parse(time.RFC3339, s.text)
	if err != nil {
		ps.add(s.at, path, "%q is not an RFC 3339 time such as 2026-11-25T18:00:00Z%s", s.text, or)
	}
	return t
}

// IsRejected reports the first rejection of app at version. An entry with a
// digest matches only that digest, or any digest when digest is "" (not
// known: refusing is the safe side). A nil *Rejections rejects nothing.
func (rs *Rejections) IsRejected(app, version, digest string) (Rejection, bool) {
	return rs.Find(app, func(r Rejection) bool {
		return r.Version == version && (r.Digest == "" || digest == "" || r.Digest == digest)
	})
}

// Find returns the first rejection of app that match accepts.
func (rs *Rejections) Find(app string, match func(Rejection) bool) (Rejection, bool) {
	if rs == nil {
		return Rejection{}, false
	}
	for _, r := range rs.Rejected {
		if r.App == app && match(r) {
			return r, true
		}
	}
	return Rejection{}, false
}

// Versions lists the rejected versions of app once each, in file order,
// for the policy input's evidence.rejected (a version rejected for one
// digest only is listed too); nil when there are none.
func (rs *Rejections) Versions(app string) []string {
	if rs == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range rs.Rejected {
		if r.App == app && !seen[r.Version] {
			seen[r.Version] = true
			out = append(out, r.Version)
		}
	}
	return out
}
