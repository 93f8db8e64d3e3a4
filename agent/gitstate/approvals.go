package gitstate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/dnslabel"
	"github.com/ferry-dev/ferry/internal/text"
)

// ApprovalsFile is where the fleet repo keeps the votes people cast on
// versions (ferry approve / ferry reject, the dashboard).
const ApprovalsFile = ".ferry/approvals.yaml"

const (
	approvalsKind = "Approvals"
	approvalsKey  = "approvals"
)

// Decisions of an approval entry.
const (
	DecisionApprove = "approve"
	DecisionReject  = "reject"
)

// ApprovalVias are the ways a vote reaches the file. A forge review is
// read from the forge, never from here: an entry claiming to be one
// (via: review) is refused, as it could pose as the forge's word.
var ApprovalVias = []string{"cli", "dashboard"}

// MaxApprovalsBytes bounds the approvals file: it is read at every pass,
// and a file of a few thousand votes is years of use. A bigger one is
// refused (every promotion stops, as for a malformed file) rather than
// stalling each pass.
const MaxApprovalsBytes = 1 << 20

// digestText is the digest an approval is bound to.
var digestText = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// maxPersonLen bounds a login or group name: they reach commit trailers
// and policy messages.
const maxPersonLen = 256

// ApprovalEntry is one person's vote on one version of an app for one
// environment. A later vote by the same person replaces theirs.
type ApprovalEntry struct {
	App     string
	Env     string
	Version string
	// Digest is the image digest of Version the vote was cast on
	// (sha256:<64 hex>): ferry's writers always record it, and the gate
	// counts the vote only for that digest. "" (a hand-written entry)
	// counts for the tag whatever its digest.
	Digest   string
	By       string    // the person's login; one person whatever its letter case
	Via      string    // cli or dashboard; "" when not recorded (cli)
	Groups   []string  // the person's OIDC groups when they voted (dashboard); nil from the CLI
	Decision string    // approve or reject
	At       time.Time // when the vote was cast; expiry counts from it
	Reason   string
}

// Rejects reports whether the vote is a rejection.
func (e ApprovalEntry) Rejects() bool { return e.Decision == DecisionReject }

// sameVoter: the file keeps one vote per person per app, env and version
// (Bob and bob are one person: see PersonKey).
func (e ApprovalEntry) sameVoter(o ApprovalEntry) bool {
	return e.App == o.App && e.Env == o.Env && e.Version == o.Version && strings.EqualFold(e.By, o.By)
}

// voterKey is sameVoter as a map key.
func (e ApprovalEntry) voterKey() string {
	return e.App + "\x00" + e.Env + "\x00" + e.Version + "\x00" + PersonKey(e.By)
}

// PersonKey is a login as one person. Forge logins are case-insensitive
// (Gitea, GitHub and GitLab answer for Bob as for bob), so votes by Bob
// and bob are one person's. Two names have one key exactly when
// strings.EqualFold says they are equal: each letter becomes the least of
// its case-folding orbit.
func PersonKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// Approvals is a parsed .ferry/approvals.yaml.
type Approvals struct {
	Source    string // where it was read from, as given to ParseApprovals
	Approvals []ApprovalEntry
	at        []pos // where each entry is written
}

// Where is the i-th entry's place in the file, "<file>:<line>:<col>", for
// the problems found once ferry.yaml is known (an app it lacks).
func (as *Approvals) Where(i int) string {
	if i < len(as.at) && as.at[i].line > 0 {
		return fmt.Sprintf("%s:%d:%d", as.Source, as.at[i].line, as.at[i].col)
	}
	return as.Source
}

// For returns the votes on app for env, in file order; nil on a nil file.
func (as *Approvals) For(app, env string) []ApprovalEntry {
	if as == nil {
		return nil
	}
	var out []ApprovalEntry
	for _, e := range as.Approvals {
		if e.App == app && e.Env == env {
			out = append(out, e)
		}
	}
	return out
}

// ApprovalsTooLarge is the refusal of an approvals file of size bytes over
// MaxApprovalsBytes (state reads the size before the content).
func ApprovalsTooLarge(source string, size int64) error {
	return fmt.Errorf("%s: %d bytes, over the %d (1 MiB) an approvals file may hold: not read; remove the votes on versions long promoted or superseded",
		source, size, MaxApprovalsBytes)
}

// VoteSkew is how far a vote's time may run ahead of ferry's clock (the
// voter's clock may be off); a vote dated later counts for nothing.
const VoteSkew = 5 * time.Minute

// Rejections are the standing rejections of version (with digest, when
// the vote names one) of app in env at now: each person's latest vote
// (letter case aside, votes dated past now+VoteSkew left out), when it is
// a rejection. A delivery in progress ends on one: an abort is the safe
// side, so whose vote it is (approval.from) is not weighed here.
func (as *Approvals) Rejections(app, env, version, digest string, now time.Time) []ApprovalEntry {
	latest := map[string]ApprovalEntry{}
	var order []string
	for _, e := range as.For(app, env) {
		if e.Version != version || (e.Digest != "" && e.Digest != digest) || e.At.Sub(now) > VoteSkew {
			continue
		}
		k := PersonKey(e.By)
		o, seen := latest[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || !e.At.Before(o.At) {
			latest[k] = e
		}
	}
	var out []ApprovalEntry
	for _, k := range order {
		if e := latest[k]; e.Rejects() {
			out = append(out, e)
		}
	}
	return out
}

// ParseApprovals decodes an approvals file strictly: known fields only,
// names as in ferry.yaml, a decision of approve or reject, an RFC 3339
// time and a via of cli or dashboard. Several votes by one person on one
// app, env and version (a hand edit; a file written when letter case made
// two people) are kept: the gate weighs the latest, as AddApproval would
// have kept it. file names it in errors
// ("<file>:<line>:<col>: <reason>"). Empty data, or only comments, is a
// file with no votes; data over MaxApprovalsBytes is refused unread.
func ParseApprovals(file string, data []byte) (*Approvals, error) {
	as, _, err := parseApprovals(file, data)
	return as, err
}

func parseApprovals(source string, data []byte) (*Approvals, *document, error) {
	if len(data) > MaxApprovalsBytes {
		return nil, nil, ApprovalsTooLarge(source, int64(len(data)))
	}
	doc, err := parseDocument(source, data, approvalsKind, approvalsKey)
	if err != nil {
		return nil, nil, err
	}
	ps := newProblems(source)
	as := &Approvals{Source: source}
	for i, n := range doc.items {
		path := indexPath(approvalsKey, i)
		var app, env, version, digest, by, via, decision, at, reason scalar
		var groups []scalar
		before := ps.Len()
		decodeMap(ps, n, path, []field{
			{name: "app", s: &app}, {name: "env", s: &env}, {name: "version", s: &version},
			{name: "digest", s: &digest}, {name: "by", s: &by}, {name: "via", s: &via}, {name: "groups", list: &groups},
			{name: "decision", s: &decision}, {name: "at", s: &at}, {name: "reason", s: &reason},
		}, nil)
		shapeOK := ps.Len() == before
		e := ApprovalEntry{App: app.text, Env: env.text, Version: version.text, Digest: digest.text, By: by.text, Via: via.text,
			Decision: decision.text, Reason: reason.text}
		written := map[string]scalar{"app": app, "env": env, "version": version, "digest": digest, "by": by, "via": via, "decision": decision, "at": at}
		for j, g := range groups {
			e.Groups = append(e.Groups, g.text)
			written[indexPath("groups", j)] = g
		}
		if at.ok {
			e.At = parseTime(ps, at, joinPath(path, "at"), "")
		}
		if shapeOK {
			bad := located(ps, path, nodePos(n), written)
			checkApproval(e, at.ok, bad)
		}
		as.Approvals = append(as.Approvals, e)
		as.at = append(as.at, nodePos(n))
	}
	if err := ps.err(); err != nil {
		return nil, nil, err
	}
	return as, doc, nil
}

// checkApproval is shared by the parser and AddApproval; hasAt says
// whether a time was given (the parser reports a bad one itself).
func checkApproval(e ApprovalEntry, hasAt bool, bad complaint) {
	checkName(bad, "app", e.App, true)
	checkName(bad, "env", e.Env, true)
	switch {
	case e.Version == "":
		bad("version", "required")
	case !versionText.MatchString(e.Version):
		bad("version", "%s is not a version (letters, digits and '_', '.', '-', '+'; at most 128)", dnslabel.Quote(e.Version))
	}
	if e.Digest != "" && !digestText.MatchString(e.Digest) {
		bad("digest", "%s is not a digest such as sha256:<64 hex digits>", dnslabel.Quote(e.Digest))
	}
	if msg := checkPerson(e.By, "the login of the person who voted"); msg != "" {
		bad("by", "%s", msg)
	}
	switch {
	case e.Via == "review":
		bad("via", "%s: a forge review is read from the forge, never from this file; want %s", dnslabel.Quote(e.Via), strings.Join(ApprovalVias, " or "))
	case e.Via != "" && !slices.Contains(ApprovalVias, e.Via):
		bad("via", "%s is not one of %s", dnslabel.Quote(e.Via), strings.Join(ApprovalVias, ", "))
	}
	for j, g := range e.Groups {
		if msg := checkPerson(g, "an OIDC group name"); msg != "" {
			bad(indexPath("groups", j), "%s", msg)
		}
	}
	switch e.Decision {
	case DecisionApprove, DecisionReject:
	case "":
		bad("decision", "required: %s or %s", DecisionApprove, DecisionReject)
	default:
		bad("decision", "%s is not %s or %s", dnslabel.Quote(e.Decision), DecisionApprove, DecisionReject)
	}
	if !hasAt {
		bad("at", "required: when the vote was cast (expiry counts from it)")
	}
	checkText(bad, "reason", e.Reason)
}

// GroupProblem says why the approvals record cannot hold the OIDC group g
// ("" when it can).
func GroupProblem(g string) string { return checkPerson(g, "an OIDC group name") }

// PersonProblem says why s cannot name the person acting ("" when it can),
// by the rule a vote's login follows.
func PersonProblem(s string) string { return checkPerson(s, "who is acting") }

// checkPerson wants a login or group name: no spaces or control
// characters (they would break the trailers that name the person).
func checkPerson(s, what string) string {
	switch {
	case s == "":
		return "required (" + what + ")"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case utf8.RuneCountInString(s) > maxPersonLen:
		return fmt.Sprintf("%s is too long (at most %d characters)", dnslabel.Quote(s), maxPersonLen)
	case strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || text.Hidden(r) || r == ',' || r == '(' || r == ')'
	}) >= 0:
		return fmt.Sprintf("%s must not contain spaces, control or invisible characters, ',' or parentheses", dnslabel.Quote(s))
	}
	return ""
}

var approvalsFile = listFile[ApprovalEntry]{
	kind: approvalsKind, key: approvalsKey, lines: approvalLines, equal: equalApproval,
	parse: func(data []byte) ([]ApprovalEntry, *document, error) {
		as, doc, err := parseApprovals(ApprovalsFile, data)
		if err != nil {
			return nil, nil, err
		}
		return as.Approvals, doc, nil
	},
}

// AddApproval records e's vote in the approvals file data (creating the
// document when data has none) and returns the new file, keeping comments
// and the other entries. The same person's earlier vote on the same app,
// env and version (under any letter case of their login) is replaced in place (an approval after a rejection
// withdraws it); an equal vote returns data unchanged. e.At is written to
// the second, in UTC, and is required.
func AddApproval(data []byte, e ApprovalEntry) ([]byte, error) {
	e.At = e.At.Truncate(time.Second)
	var msgs []string
	checkApproval(e, !e.At.IsZero(), func(field, format string, args ...any) {
		msgs = append(msgs, field+": "+fmt.Sprintf(format, args...))
	})
	if len(msgs) > 0 {
		return nil, fmt.Errorf("vote on %s %s for %s: %s", dnslabel.Quote(e.App), dnslabel.Quote(e.Version), dnslabel.Quote(e.Env), strings.Join(msgs, "; "))
	}
	items, doc, err := approvalsFile.parse(data)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(items, e.sameVoter)
	if i < 0 {
		op := func(l *layout) { l.appendEntry(approvalsKind, approvalsKey, approvalLines(e)) }
		return approvalsFile.edit(data, doc, op, append(items, e))
	}
	if equalApproval(items[i], e) {
		return data, nil
	}
	want := slices.Clone(items)
	want[i] = e
	return approvalsFile.edit(data, doc, func(l *layout) { l.replace(i, approvalLines(e)) }, want)
}

func approvalLines(e ApprovalEntry) []string {
	lines := []string{"app: " + quote(e.App), "env: " + quote(e.Env), "version: " + quote(e.Version)}
	if e.Digest != "" {
		lines = append(lines, "digest: "+quote(e.Digest))
	}
	lines = append(lines, "by: "+quote(e.By))
	if e.Via != "" {
		lines = append(lines, "via: "+quote(e.Via))
	}
	if len(e.Groups) > 0 {
		lines = append(lines, "groups: "+flowList(e.Groups))
	}
	lines = append(lines, "decision: "+e.Decision, "at: "+timeText(e.At))
	if e.Reason != "" {
		lines = append(lines, "reason: "+quote(e.Reason))
	}
	return lines
}

func equalApproval(a, b ApprovalEntry) bool {
	return a.sameVoter(b) && a.By == b.By && a.Digest == b.Digest && a.Via == b.Via && slices.Equal(a.Groups, b.Groups) && a.Decision == b.Decision &&
		a.At.Equal(b.At) && a.Reason == b.Reason
}
