package overlays

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SetRoute edits data so ReadRoute gives want, changing only the bytes that must
// change; changed is false (and out is data) when data already had want.
//
// Weights are edited in place, or added as a `weight:` field or a canary backendRef
// (copying the stable ref's group, kind, namespace and port). The A/B rule is inserted
// first in spec.rules, as a copy of the stable rule (its matches each gaining the
// header, minus mirror filters) routed to the canary; the mirror is a RequestMirror
// filter appended to the stable rule. Both are removed as whole lines. New lines copy
// the file's indentation, list style and line endings. Flow-style collections are
// edited only where a value changes in place; anything else there is refused.
func SetRoute(data []byte, spec RouteSpec, want RouteState) (out []byte, changed bool, err error) {
	if err := spec.validate(); err != nil {
		return nil, false, fmt.Errorf("set route: %w", err)
	}
	if err := want.validate(spec); err != nil {
		return nil, false, fmt.Errorf("set route %s: %w", spec.Name, err)
	}
	out, changed, err = setRoute(data, spec, want)
	if err != nil {
		return nil, false, fmt.Errorf("set route %s: %w", spec.Name, err)
	}
	return out, changed, nil
}

func setRoute(data []byte, spec RouteSpec, want RouteState) ([]byte, bool, error) {
	// SetImage's preconditions: parser positions must map to bytes exactly.
	src := stripBOM(data)
	if !utf8.Valid(src) {
		return nil, false, &routeError{kind: ErrUnsupported, msg: "unsupported route layout: not UTF-8"}
	}
	if i := oddLineBreak(src); i >= 0 {
		return nil, false, &routeError{kind: ErrUnsupported, msg: fmt.Sprintf("unsupported route layout: a line break other than LF or CRLF at byte %d", i)}
	}
	d, err := parseRoute(src, spec)
	if err != nil {
		return nil, false, err
	}
	cur, err := d.state()
	if err != nil {
		return nil, false, err
	}
	if cur == want {
		return data, false, nil
	}
	// Only an edit needs the route anchor-free; reading never does.
	if err := noAnchors(d.root); err != nil {
		return nil, false, err
	}
	// Every step splices the original source, so none sees another's edit
	// and each can be reasoned about alone.
	e := &routeEditor{s: newSplicer(src), d: d, spec: spec}
	e.st = e.style()
	steps := []func() error{
		func() error { return e.setWeight(d.stableRef, cur.StableWeight, want.StableWeight) },
		func() error { return e.setCanaryWeight(cur.CanaryWeight, want.CanaryWeight) },
		func() error { return e.setHeaderRule(cur.HeaderMatch, want.HeaderMatch) },
		func() error { return e.setMirror(cur.Mirror, want.Mirror) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, false, err
		}
	}
	out, err := e.s.apply()
	if err != nil {
		return nil, false, err
	}
	if len(src) != len(data) {
		out = append(append(make([]byte, 0, len(bom)+len(out)), bom...), out...)
	}
	// A guard: what SetRoute returns always reads back as asked.
	got, err := ReadRoute(out, spec)
	if err != nil {
		return nil, false, fmt.Errorf("the edited route does not read back (a ferry bug; nothing written): %w", err)
	}
	if got != want {
		return nil, false, &routeError{kind: ErrUnsupported, msg: fmt.Sprintf("the edited route reads back as %+v, want %+v (a ferry bug; nothing written)", got, want)}
	}
	return out, true, nil
}

// noAnchors refuses anchors and aliases in the route: an in-place edit of an anchored
// value would change its aliases too.
func noAnchors(n *yaml.Node) error {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return routeUnsupportedf(n.Line, "the HTTPRoute uses a YAML anchor or alias")
	}
	for _, c := range n.Content {
		if err := noAnchors(c); err != nil {
			return err
		}
	}
	return nil
}

type routeEditor struct {
	s    *splicer
	d    *routeDoc
	spec RouteSpec
	st   blockStyle
}

// style reads the file's block layout from spec and spec.rules, so added
// lines indent like the ones around them.
func (e *routeEditor) style() blockStyle {
	st := defaultBlockStyle
	specKey, sp, _ := lookup(e.d.root, "spec")
	if specKey == nil || sp.Kind != yaml.MappingNode || sp.Style&yaml.FlowStyle != 0 || len(sp.Content) == 0 {
		return st
	}
	kOff, err1 := e.s.offset(specKey)
	cOff, err2 := e.s.offset(sp.Content[0])
	if err1 != nil || err2 != nil {
		return st
	}
	if mi := e.s.column(cOff) - e.s.column(kOff); mi > 0 {
		st.mi = mi
	}
	if d, g, err := seqLayout(e.s, sp); err == nil {
		st.dashOff, st.gap = d, g
	}
	return st
}

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

// inFlow reports whether the rules list or any of nodes is a flow collection.
func (e *routeEditor) inFlow(nodes ...*yaml.Node) bool {
	flow := isFlow(e.d.root) || isFlow(e.d.rules)
	for _, n := range nodes {
		flow = flow || isFlow(n)
	}
	return flow
}

// keyColumn is the column of a block mapping's keys.
func (e *routeEditor) keyColumn(m *yaml.Node) (int, error) {
	if len(m.Content) == 0 {
		return 0, routeUnsupportedf(m.Line, "empty mapping")
	}
	off, err := e.s.offset(m.Content[0])
	if err != nil {
		return 0, err
	}
	return e.s.column(off), nil
}

// setWeight writes w as ref's weight, in place or as a new field.
func (e *routeEditor) setWeight(ref *yaml.Node, cur, w int) error {
	if cur == w {
		return nil
	}
	flow := e.inFlow(e.d.stableRule, e.d.backends, ref)
	text := strconv.Itoa(w)
	k, v, err := lookup(ref, "weight")
	if err != nil {
		return err
	}
	if k != nil {
		// `weight:` with no value: write it after the colon.
		if isImplicitNull(v) {
			at, err := colonAfter(e.s, k, flow)
			if err != nil {
				return err
			}
			e.s.replace(at, at, " "+text)
			return nil
		}
		start, end, err := e.s.scalarSpan(v, 0, flow)
		if err != nil {
			return err
		}
		e.s.replace(start, end, text)
		return nil
	}
	if flow {
		end, err := e.s.nodeEnd(ref.Content[len(ref.Content)-1], 0, true)
		if err != nil {
			return err
		}
		e.s.replace(end, end, ", weight: "+text)
		return nil
	}
	col, err := e.keyColumn(ref)
	if err != nil {
		return err
	}
	end, err := e.s.nodeEnd(ref, col, false)
	if err != nil {
		return err
	}
	e.s.insertLines(e.s.nextLine(end), strings.Repeat(" ", col)+"weight: "+text)
	return nil
}

func (e *routeEditor) setCanaryWeight(cur, w int) error {
	if e.d.canaryRef != nil {
		return e.setWeight(e.d.canaryRef, cur, w)
	}
	// No canary ref already reads as weight 0.
	if w == 0 {
		return nil
	}
	ref := e.backendRef(e.spec.Canary)
	ref.Content = append(ref.Content, newStr("weight"), newInt(strconv.Itoa(w)))
	return e.appendItem(e.d.backends, ref, "backendRefs")
}

// backendRef is a ref to the named Service, with the stable ref's group, kind,
// namespace and port: the canary must be reached the same way, only under
// another name.
func (e *routeEditor) backendRef(name string) *yaml.Node {
	ref := newMap("name", newStr(name))
	for i := 0; i+1 < len(e.d.stableRef.Content); i += 2 {
		switch k := e.d.stableRef.Content[i]; k.Value {
		case "group", "kind", "namespace", "port":
			ref.Content = append(ref.Content, clone(k), clone(e.d.stableRef.Content[i+1]))
		}
	}
	return ref
}

// appendItem adds item after the last item of a non-empty block list.
func (e *routeEditor) appendItem(seq, item *yaml.Node, what string) error {
	if e.inFlow(e.d.stableRule, seq) {
		return routeUnsupportedf(seq.Line, "%s is a flow-style list; write it in block style to let ferry add to it", what)
	}
	dash, err := e.dashColumn(seq, what)
	if err != nil {
		return err
	}
	last := seq.Content[len(seq.Content)-1]
	itemCol, err := itemColumn(e.s, last, dash)
	if err != nil {
		return err
	}
	end, err := e.s.nodeEnd(last, dash, false)
	if err != nil {
		return err
	}
	// This list's own gap wins over the one read from spec.rules.
	st := e.st
	st.gap = itemCol - dash
	lines, err := st.seqLines(newSeq(item), dash, seq.Line)
	if err != nil {
		return err
	}
	e.s.insertLines(e.s.nextLine(end), lines...)
	return nil
}

// dashColumn is the column of a block list's dashes.
func (e *routeEditor) dashColumn(seq *yaml.Node, what string) (int, error) {
	off, err := e.s.offset(seq)
	if err != nil {
		return 0, err
	}
	if e.s.src[off] != '-' {
		return 0, routeUnsupportedf(seq.Line, "%s has a tag before its first item", what)
	}
	return e.s.column(off), nil
}
