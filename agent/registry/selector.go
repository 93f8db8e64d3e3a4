// Package registry watches container registries: it lists and resolves tags
// with go-containerregistry (rate-limited per host, honouring 429 Retry-After)
// and picks the newest allowed tag according to an app's tag policy.
package registry

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
)

// TagPolicy chooses the newest allowed tag; it mirrors agent/config.TagPolicy
// (this adapter does not import ferry packages). Exactly one of Semver, Regex
// or Digest is set.
type TagPolicy struct {
	// Semver is a Masterminds/semver/v3 constraint such as ">=1.0.0".
	Semver string
	// Regex selects tags; its version capture is ordered by Order.
	Regex string
	// Order is "numerical" (default) or "alphabetical"; only with Regex.
	Order string
	// Digest names one moving tag (latest, main) whose digest is followed.
	Digest string
}

// Orders accepted in TagPolicy.Order.
const (
	OrderNumerical    = "numerical"
	OrderAlphabetical = "alphabetical"
)

type mode int

const (
	modeSemver mode = iota
	modeRegex
	modeDigest
)

// Selector applies a TagPolicy to tag lists. It is immutable and safe for
// concurrent use.
//
// Semver mode parses tags leniently with semver.NewVersion: "v1.2.3", "1.2"
// and "1" are versions (1.2.0, 1.0.0), and so is a date-like "20240101"
// (20240101.0.0), so bound the constraint from above if such tags exist.
// Tags of one version (2.0.0, v2.0.0, 2) rank equal and the longer wins
// the tie (v2.0.0); a rejection of one spelling rejects them all.
// Tags that do not parse are ignored. Pre-releases match only when an
// OR-group of the constraint itself names a pre-release (">=1.1.0-0"), which
// is Masterminds' behaviour.
//
// Regex mode matches tags (unanchored, as written) and orders them by the
// capture group named "version", else the first named group, else group 1,
// else the whole match. Numerical order parses the capture as an exact
// decimal ("10", "1.5"); tags whose capture is not a plain decimal number are
// not allowed. Alphabetical order compares the captures as strings.
//
// Digest mode allows only the moving tag itself.
//
// Ties (tags with equal versions or captures, such as "1.0" and "1.0.0", or
// "main-010" and "main-10") are broken by the original strings: the longer
// one is newer, then the lexically greater. Selection therefore never depends
// on the order of the input.
type Selector struct {
	mode       mode
	constraint *semver.Constraints
	re         *regexp.Regexp
	group      int
	numerical  bool
	moving     string
	semver     string // the constraint as written, for reasons
	// memo keeps explain's answer per tag: a fleet's repositories share
	// most tag names (1.4.2, latest), and parsing and checking a version is
	// most of a look-up's CPU (100 tags x 10,000 apps per pass).
	memo *tagMemo
	// prereleaseWhy is the one wording of a refused pre-release.
	prereleaseWhy string
}

// maxMemoTags bounds a Selector's memo; past it the memo starts over, so a
// long-running agent watching registries full of one-off tags (sha-…,
// build-…) keeps a bounded working set.
const maxMemoTags = 1 << 14

type tagMemo struct {
	mu sync.RWMutex
	m  map[string]explained
}

type explained struct {
	k     key
	cause refusal
}

func (m *tagMemo) get(tag string) (explained, bool) {
	m.mu.RLock()
	e, ok := m.m[tag]
	m.mu.RUnlock()
	return e, ok
}

func (m *tagMemo) put(tag string, e explained) {
	m.mu.Lock()
	if len(m.m) >= maxMemoTags {
		m.m = make(map[string]explained, len(m.m)/4)
	}
	m.m[tag] = e
	m.mu.Unlock()
}

// memoLen is the memo's size, for tests.
func (s *Selector) memoLen() int {
	s.memo.mu.RLock()
	defer s.memo.mu.RUnlock()
	return len(s.memo.m)
}

// NewSelector validates p and compiles it.
func NewSelector(p TagPolicy) (*Selector, error) {
	set := 0
	for _, v := range []string{p.Semver, p.Regex, p.Digest} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("tag policy: exactly one of semver, regex or digest must be set")
	}
	if p.Order != "" && p.Regex == "" {
		return nil, fmt.Errorf("tag policy: order %q applies only to regex", p.Order)
	}
	switch {
	case p.Semver != "":
		c, err := semver.NewConstraint(p.Semver)
		if err != nil {
			return nil, fmt.Errorf("tag policy: semver constraint %q: %w", p.Semver, err)
		}
		return &Selector{mode: modeSemver, constraint: c, semver: p.Semver, memo: newMemo(),
			prereleaseWhy: fmt.Sprintf("a pre-release, and the range %q names none (write one, such as >=1.0.0-0, to take pre-releases)", p.Semver)}, nil
	case p.Regex != "":
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			return nil, fmt.Errorf("tag policy: regex %q: %w", p.Regex, err)
		}
		s := &Selector{mode: modeRegex, re: re, group: versionGroup(re), memo: newMemo()}
		switch p.Order {
		case "", OrderNumerical:
			s.numerical = true
		case OrderAlphabetical:
		default:
			return nil, fmt.Errorf("tag policy: order %q: want %q or %q", p.Order, OrderNumerical, OrderAlphabetical)
		}
		return s, nil
	default:
		return &Selector{mode: modeDigest, moving: p.Digest, memo: newMemo()}, nil
	}
}

func newMemo() *tagMemo { return &tagMemo{m: map[string]explained{}} }

// versionGroup picks the capture group that carries the version.
func versionGroup(re *regexp.Regexp) int {
	if i := re.SubexpIndex("version"); i > 0 {
		return i
	}
	for i, n := range re.SubexpNames() {
		if i > 0 && n != "" {
			return i
		}
	}
	if re.NumSubexp() > 0 {
		return 1
	}
	return 0
}

// Allows reports whether tag passes the policy.
func (s *Selector) Allows(tag string) bool {
	_, ok := s.key(tag)
	return ok
}

// Less reports whether tag a is older than tag b. Among allowed tags it is the
// policy's order with the tie-break described on Selector; a tag the policy
// does not allow is older than every allowed one (so any allowed candidate is
// newer than a running tag outside the policy), and disallowed tags compare
// as strings. Less is a strict total order on distinct strings.
func (s *Selector) Less(a, b string) bool {
	ka, oka := s.key(a)
	kb, okb := s.key(b)
	if oka != okb {
		return okb
	}
	if oka {
		if c := s.compare(ka, kb); c != 0 {
			return c < 0
		}
	}
	return tieLess(a, b)
}

// Select returns the newest allowed tag; ok is false when none is allowed.
// In digest mode that is the moving tag, when present.
func (s *Selector) Select(tags []string) (tag string, ok bool) {
	return s.sel(tags, nil)
}

// Skipped is a tag that looks like a version but that the policy refuses,
// and why: "1.9.9_build" (a tag cannot hold semver's "+", so people write
// "_", which is not semver), a pre-release the range leaves out, a
// numerical capture that is not a number. A tag the policy simply does not
// match (out of range, latest, sha-abc) is not one.
type Skipped struct {
	Tag    string `json:"tag"`
	Reason string `json:"reason"`
}

// SelectSkipping is Select, and the max newest-looking skipped tags with
// the count of the others, so ferry plan can say why a tag was not taken
// without parsing the tags again. Reasons are worded for these max only.
func (s *Selector) SelectSkipping(tags []string, max int) (tag string, ok bool, skipped []Skipped, more int) {
	var refused []refusedTag
	tag, ok = s.sel(tags, &refused)
	slices.SortFunc(refused, func(a, b refusedTag) int { return -naturalCompare(a.tag, b.tag) })
	if len(refused) > max {
		refused, more = refused[:max], len(refused)-max
	}
	for _, r := range refused {
		skipped = append(skipped, Skipped{Tag: r.tag, Reason: s.reason(r)})
	}
	return tag, ok, skipped, more
}

// refusedTag is a version-like tag the policy refused, and the cause key
// found, kept unworded until it is shown.
type refusedTag struct {
	tag   string
	cause refusal
}

type refusal uint8

const (
	acceptedOrIgnored refusal = iota
	notSemver                 // looks like a version; semver.NewVersion refuses it
	prerelease                // a pre-release the range would take as a release
	notNumber                 // a numerical capture that is not a plain decimal
)

func (s *Selector) sel(tags []string, refused *[]refusedTag) (tag string, ok bool) {
	var best key
	for _, t := range tags {
		k, cause := s.explain(t)
		if cause != acceptedOrIgnored {
			if refused != nil {
				*refused = append(*refused, refusedTag{tag: t, cause: cause})
			}
			continue
		}
		if k == (key{}) {
			continue
		}
		if !ok {
			tag, best, ok = t, k, true
			continue
		}
		c := s.compare(best, k)
		if c < 0 || (c == 0 && tieLess(tag, t)) {
			tag, best = t, k
		}
	}
	return tag, ok
}

const notSemverWhy = "not a semantic version"

// reason words a refusal.
func (s *Selector) reason(r refusedTag) string {
	switch r.cause {
	case notSemver:
		// Masterminds' error says only "invalid semantic version".
		if strings.Contains(r.tag, "_") {
			return notSemverWhy + `; a tag cannot hold semver's "+", and "_" does not stand for it: tag it 1.2.3 or 1.2.3-NAME (a pre-release), or use a regex tag policy`
		}
		return notSemverWhy
	case prerelease:
		return s.prereleaseWhy
	case notNumber:
		return "its version capture is not a plain decimal number (order: numerical; use order: alphabetical or narrow the regex)"
	}
	return ""
}

// versionLike is a tag that starts like a version: "1.9.9_build", "v2.0",
// "1.2.3.4"; not "latest", "main-10" or "sha-abc".
var versionLike = regexp.MustCompile(`^[vV]?[0-9]+(\.[0-9]+)*([._+-]|$)`)

// naturalCompare orders strings with their digit runs compared as
// numbers, so "1.10.0_x" looks newer than "1.9.9_x".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// tieLess orders tags the policy ranks equal: shorter first, then lexically.
func tieLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// key is a tag's sort key under the policy; one field is used per mode.
type key struct {
	ver *semver.Version
	num *big.Rat
	str string
	set bool // allowed with an empty str (alphabetical) or in digest mode
}

// plainDecimal keeps big.Rat to exact decimals: it would also accept
// fractions, exponents and hex, which are not versions (and a huge exponent
// is costly).
var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func (s *Selector) key(tag string) (key, bool) {
	k, _ := s.explain(tag)
	return k, k != (key{})
}

// explain is a tag's sort key, or (zero key) why a version-like tag is
// refused; a tag the policy does not match has neither.
func (s *Selector) explain(tag string) (key, refusal) {
	if s.mode == modeDigest {
		return s.explainOnce(tag)
	}
	if e, ok := s.memo.get(tag); ok {
		return e.k, e.cause
	}
	k, cause := s.explainOnce(tag)
	s.memo.put(tag, explained{k, cause})
	return k, cause
}

// explainOnce is explain without the memo.
func (s *Selector) explainOnce(tag string) (key, refusal) {
	switch s.mode {
	case modeSemver:
		v, err := semver.NewVersion(tag)
		if err != nil {
			if versionLike.MatchString(tag) {
				return key{}, notSemver
			}
			return key{}, acceptedOrIgnored
		}
		if !s.constraint.Check(v) {
			// A pre-release the range would take as a release is
			// refused for being one; any other is simply out of range.
			if v.Prerelease() != "" {
				if rel, err := v.SetPrerelease(""); err == nil && s.constraint.Check(&rel) {
					return key{}, prerelease
				}
			}
			return key{}, acceptedOrIgnored
		}
		return key{ver: v}, acceptedOrIgnored
	case modeRegex:
		m := s.re.FindStringSubmatchIndex(tag)
		if m == nil {
			return key{}, acceptedOrIgnored
		}
		var capture string
		if lo, hi := m[2*s.group], m[2*s.group+1]; lo >= 0 {
			capture = tag[lo:hi]
		}
		if !s.numerical {
			return key{str: capture, set: true}, acceptedOrIgnored
		}
		if !plainDecimal.MatchString(capture) {
			return key{}, notNumber
		}
		n, ok := new(big.Rat).SetString(capture)
		if !ok {
			return key{}, notNumber
		}
		return key{num: n}, acceptedOrIgnored
	default:
		if tag == s.moving {
			return key{set: true}, acceptedOrIgnored
		}
		return key{}, acceptedOrIgnored
	}
}

func (s *Selector) compare(a, b key) int {
	switch s.mode {
	case modeSemver:
		return a.ver.Compare(b.ver)
	case modeRegex:
		if s.numerical {
			return a.num.Cmp(b.num)
		}
		return strings.Compare(a.str, b.str)
	default:
		return 0
	}
}
