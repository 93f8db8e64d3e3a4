package overlays

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// RouteSpec names the HTTPRoute and its two backends in a route file.
type RouteSpec struct {
	Name   string       // metadata.name of the HTTPRoute (the file may hold several YAML documents)
	Stable string       // backendRef name of the stable Service
	Canary string       // backendRef name of the canary Service
	Header *HeaderMatch // the A/B rule's match; nil when the strategy has none
}

// HeaderMatch is an exact HTTP header match of a Gateway API HTTPRoute rule.
type HeaderMatch struct{ Name, Value string }

// RouteState is the traffic state ferry reads and writes.
//
// The stable rule is the first rule whose backendRefs name spec.Stable; the weights
// are those of its first stable and first canary backendRef. The A/B rule is any
// other rule whose backendRefs all name spec.Canary and one of whose matches holds
// spec.Header (any header match when spec.Header is nil).
type RouteState struct {
	StableWeight, CanaryWeight int  // of the stable rule's backendRefs (a missing weight is Gateway API's default 1; a missing canary backendRef is weight 0)
	HeaderMatch                bool // the A/B rule to the canary is present
	Mirror                     bool // the stable rule mirrors to the canary
}

// maxWeight is the largest backendRef weight the Gateway API accepts; a
// route past it would be refused by the API server after ferry committed it.
const maxWeight = 1000000

var (
	// A Service name (RFC 1123 label) and an HTTP header name (RFC 7230 token).
	serviceNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	headerNameRE  = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$")
)

func (spec RouteSpec) validate() error {
	if spec.Name == "" {
		return errors.New("route name is empty")
	}
	if err := checkName(spec.Name); err != nil {
		return fmt.Errorf("route name %q: %w", spec.Name, err)
	}
	// Backend names are written into the file: only valid Service names,
	// so nothing that changes the YAML around them gets in.
	for _, n := range []struct{ what, v string }{{"stable", spec.Stable}, {"canary", spec.Canary}} {
		if !serviceNameRE.MatchString(n.v) {
			return fmt.Errorf("%s backend %q: not a Service name (RFC 1123 label)", n.what, n.v)
		}
	}
	// One Service for both would make every weight change a no-op.
	if spec.Stable == spec.Canary {
		return fmt.Errorf("stable and canary backends are both %q", spec.Stable)
	}
	if h := spec.Header; h != nil {
		if !headerNameRE.MatchString(h.Name) {
			return fmt.Errorf("header name %q: not an HTTP header name", h.Name)
		}
		// Control characters could break the YAML line or the header the
		// gateway sends; 4096 bounds the file.
		if len(h.Value) > 4096 || !utf8.ValidString(h.Value) || strings.ContainsFunc(h.Value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return fmt.Errorf("header %s value %q: want at most 4096 printable characters", h.Name, truncate(h.Value, 40))
		}
	}
	return nil
}

func (want RouteState) validate(spec RouteSpec) error {
	switch {
	case want.StableWeight < 0 || want.CanaryWeight < 0:
		return fmt.Errorf("weights stable %d, canary %d: negative", want.StableWeight, want.CanaryWeight)
	case want.StableWeight > maxWeight || want.CanaryWeight > maxWeight:
		return fmt.Errorf("weights stable %d, canary %d: above the Gateway API's %d", want.StableWeight, want.CanaryWeight, maxWeight)
	case want.StableWeight == 0 && want.CanaryWeight == 0:
		return errors.New("weights stable 0, canary 0: nothing would serve the route")
	case want.HeaderMatch && spec.Header == nil:
		return errors.New("the header rule is wanted but the route spec has no header")
	}
	return nil
}

// routeError is an error of a route file: errors.Is matches kind (ErrInvalid or
// ErrUnsupported), the message speaks of routes rather than kustomizations.
type routeError struct {
	kind error
	msg  string
}

func (e *routeError) Error() string { return e.msg }
func (e *routeError) Unwrap() error { return e.kind }

func routeInvalidf(line int, format string, args ...any) error {
	msg := "invalid route file: "
	if line > 0 {
		msg += fmt.Sprintf("line %d: ", line)
	}
	return &routeError{kind: ErrInvalid, msg: msg + fmt.Sprintf(format, args...)}
}

func routeUnsupportedf(line int, format string, args ...any) error {
	return &routeError{kind: ErrUnsupported, msg: fmt.Sprintf("unsupported route layout: line %d: ", line) + fmt.Sprintf(format, args...)}
}

// routeDoc is the parsed HTTPRoute of a route file and the parts ferry edits.
type routeDoc struct {
	root       *yaml.Node // the HTTPRoute mapping
	rules      *yaml.Node // spec.rules
	stableRule *yaml.Node
	backends   *yaml.Node // the stable rule's backendRefs
	stableRef  *yaml.Node
	canaryRef  *yaml.Node // nil when absent
	abRules    []int      // indexes in rules of A/B rules
	filtersKey *yaml.Node // the stable rule's filters key; nil when absent
	filters    *yaml.Node
	mirrors    []int // indexes in filters of mirrors to the canary
}

func (d *routeDoc) state() (RouteState, error) {
	st := RouteState{HeaderMatch: len(d.abRules) > 0, Mirror: len(d.mirrors) > 0}
	var err error
	if st.StableWeight, err = refWeight(d.stableRef, 1); err != nil {
		return RouteState{}, err
	}
	if st.CanaryWeight, err = refWeight(d.canaryRef, 0); err != nil {
		return RouteState{}, err
	}
	return st, nil
}

// refWeight is a backendRef's weight: def when the ref is absent, 1 without a weight.
func refWeight(ref *yaml.Node, def int) (int, error) {
	if ref == nil {
		return def, nil
	}
	k, v, err := lookup(ref, "weight")
	if err != nil || k == nil || isNull(deref(v)) {
		return 1, err
	}
	v = deref(v)
	// The tag must be !!int: a quoted "5" is a string, which the API
	// server refuses, so ferry must not read it as 5.
	w, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || w < 0 || w > maxWeight {
		return 0, routeInvalidf(v.Line, "weight %s is not an integer from 0 to %d", kindName(v), maxWeight)
	}
	return w, nil
}

// lookup finds key in a mapping; k is nil when the key is absent.
func lookup(m *yaml.Node, key string) (k, v *yaml.Node, err error) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if c := m.Content[i]; c.Kind == yaml.ScalarNode && c.Value == key {
			// Readers disagree on which duplicate wins: an edit would be a guess.
			if k != nil {
				return nil, nil, routeInvalidf(c.Line, "duplicate key %s (first at line %d)", key, k.Line)
			}
			k, v = c, m.Content[i+1]
		}
	}
	return k, v, nil
}

// child is the value of key in mapping m, which must be of kind want or null/absent
// (then nil). path names it in errors.
func child(m *yaml.Node, key string, want yaml.Kind, path string) (*yaml.Node, error) {
	_, v, err := lookup(m, key)
	if err != nil || v == nil {
		return nil, err
	}
	v = deref(v)
	// `key:` with nothing after it counts as absent.
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != want {
		return nil, routeInvalidf(v.Line, "%s is %s; want %s", path, kindName(v), kindName(&yaml.Node{Kind: want}))
	}
	return v, nil
}

func childString(m *yaml.Node, key string) string {
	if _, v, _ := lookup(m, key); v != nil && deref(v).Kind == yaml.ScalarNode {
		return scalarValue(v)
	}
	return ""
}

// parseRoute finds the HTTPRoute named spec.Name among the documents of data.
func parseRoute(data []byte, spec RouteSpec) (*routeDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var found *yaml.Node
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, &routeError{kind: ErrInvalid, msg: "invalid route file: " + err.Error()}
		}
		// Other documents (a Service, another route) share the file and are
		// skipped, unlike in a kustomization.
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		root := doc.Content[0]
		if childString(root, "kind") != "HTTPRoute" {
			continue
		}
		md, err := child(root, "metadata", yaml.MappingNode, "metadata")
		if err != nil {
			return nil, err
		}
		if md == nil || childString(md, "name") != spec.Name {
			continue
		}
		// Two routes of one name: editing one would leave the other routing
		// traffic as before.
		if found != nil {
			return nil, routeInvalidf(root.Line, "a second HTTPRoute named %s (first at line %d)", spec.Name, found.Line)
		}
		found = root
	}
	if found == nil {
		return nil, routeInvalidf(0, "no HTTPRoute named %s", spec.Name)
	}
	return parseRules(found, spec)
}

func parseRules(root *yaml.Node, spec RouteSpec) (*routeDoc, error) {
	d := &routeDoc{root: root}
	sp, err := child(root, "spec", yaml.MappingNode, "spec")
	if err != nil {
		return nil, err
	}
	if sp == nil {
		return nil, routeInvalidf(root.Line, "HTTPRoute %s has no spec", spec.Name)
	}
	if d.rules, err = child(sp, "rules", yaml.SequenceNode, "spec.rules"); err != nil {
		return nil, err
	}
	if d.rules == nil {
		return nil, routeInvalidf(sp.Line, "HTTPRoute %s has no spec.rules", spec.Name)
	}
	type ruleInfo struct {
		refs             *yaml.Node
		stable, canary   *yaml.Node
		onlyCanary, isAB bool
	}
	for i, r := range d.rules.Content {
		r = deref(r)
		path := fmt.Sprintf("spec.rules[%d]", i)
		if r.Kind != yaml.MappingNode {
			return nil, routeInvalidf(r.Line, "%s is %s; want a mapping", path, kindName(r))
		}
		refs, err := child(r, "backendRefs", yaml.SequenceNode, path+".backendRefs")
		if err != nil {
			return nil, err
		}
		var info ruleInfo
		info.refs, info.onlyCanary = refs, refs != nil && len(refs.Content) > 0
		for j, ref := range contentOf(refs) {
			ref = deref(ref)
			if ref.Kind != yaml.MappingNode {
				return nil, routeInvalidf(ref.Line, "%s.backendRefs[%d] is %s; want a mapping", path, j, kindName(ref))
			}
			switch childString(ref, "name") {
			case spec.Stable:
				if info.stable == nil {
					info.stable = ref
				}
				info.onlyCanary = false
			case spec.Canary:
				if info.canary == nil {
					info.canary = ref
				}
			default:
				info.onlyCanary = false
			}
		}
		switch {
		// Later rules naming stable (other paths) are left as they are.
		case info.stable != nil && d.stableRule == nil:
			d.stableRule, d.backends, d.stableRef, d.canaryRef = r, refs, info.stable, info.canary
			if err := d.parseFilters(spec, path); err != nil {
				return nil, err
			}
		// A rule sending everything to the canary is the A/B rule only when
		// it matches the header: a person's own canary rule is left alone.
		case info.onlyCanary:
			ab, err := hasHeaderMatch(r, spec.Header, path)
			if err != nil {
				return nil, err
			}
			if ab {
				d.abRules = append(d.abRules, i)
			}
		}
	}
	// Refused, not created: ferry shifts traffic on the person's rule, it
	// does not write a route of its own.
	if d.stableRule == nil {
		return nil, routeInvalidf(d.rules.Line, "HTTPRoute %s has no rule with a backendRef to %s", spec.Name, spec.Stable)
	}
	return d, nil
}

func contentOf(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	return n.Content
}

// parseFilters finds the stable rule's RequestMirror filters to the canary.
func (d *routeDoc) parseFilters(spec RouteSpec, path string) error {
	k, _, err := lookup(d.stableRule, "filters")
	if err != nil || k == nil {
		return err
	}
	d.filtersKey = k
	if d.filters, err = child(d.stableRule, "filters", yaml.SequenceNode, path+".filters"); err != nil {
		return err
	}
	for j, f := range contentOf(d.filters) {
		f = deref(f)
		if f.Kind != yaml.MappingNode {
			return routeInvalidf(f.Line, "%s.filters[%d] is %s; want a mapping", path, j, kindName(f))
		}
		if childString(f, "type") != "RequestMirror" {
			continue
		}
		rm, err := child(f, "requestMirror", yaml.MappingNode, fmt.Sprintf("%s.filters[%d].requestMirror", path, j))
		if err != nil || rm == nil {
			return err
		}
		br, err := child(rm, "backendRef", yaml.MappingNode, fmt.Sprintf("%s.filters[%d].requestMirror.backendRef", path, j))
		if err != nil {
			return err
		}
		// Mirrors to other Services are a person's, and stay.
		if br != nil && childString(br, "name") == spec.Canary {
			d.mirrors = append(d.mirrors, j)
		}
	}
	return nil
}

// hasHeaderMatch reports whether a match of rule r holds header h (any header
// match when h is nil). Header names compare case-insensitively, as in HTTP.
func hasHeaderMatch(r *yaml.Node, h *HeaderMatch, path string) (bool, error) {
	matches, err := child(r, "matches", yaml.SequenceNode, path+".matches")
	if err != nil {
		return false, err
	}
	for i, m := range contentOf(matches) {
		m = deref(m)
		if m.Kind != yaml.MappingNode {
			return false, routeInvalidf(m.Line, "%s.matches[%d] is %s; want a mapping", path, i, kindName(m))
		}
		hs, err := child(m, "headers", yaml.SequenceNode, fmt.Sprintf("%s.matches[%d].headers", path, i))
		if err != nil {
			return false, err
		}
		for _, hm := range contentOf(hs) {
			hm = deref(hm)
			if hm.Kind != yaml.MappingNode {
				continue
			}
			if h == nil {
				return true, nil
			}
			// No type is the Gateway API's default, Exact; a regular
			// expression match is not ferry's rule.
			if t := childString(hm, "type"); (t == "" || t == "Exact") &&
				strings.EqualFold(childString(hm, "name"), h.Name) && childString(hm, "value") == h.Value {
				return true, nil
			}
		}
	}
	return false, nil
}

// ReadRoute returns the traffic state of the HTTPRoute spec.Name in a route file.
func ReadRoute(data []byte, spec RouteSpec) (RouteState, error) {
	if err := spec.validate(); err != nil {
		return RouteState{}, fmt.Errorf("read route: %w", err)
	}
	d, err := parseRoute(stripBOM(data), spec)
	if err != nil {
		return RouteState{}, fmt.Errorf("read route %s: %w", spec.Name, err)
	}
	st, err := d.state()
	if err != nil {
		return RouteState{}, fmt.Errorf("read route %s: %w", spec.Name, err)
	}
	return st, nil
}
