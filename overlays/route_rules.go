package overlays

import (
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// setHeaderRule inserts the A/B rule first in spec.rules, or removes every A/B rule.
// First, because the Gateway API breaks a tie between equally specific rules
// of one route by their order.
func (e *routeEditor) setHeaderRule(cur, want bool) error {
	switch {
	case cur == want:
		return nil
	// Every A/B rule goes, copies included, so the route reads back with
	// no header rule at all.
	case !want:
		for _, i := range e.d.abRules {
			if err := e.removeItem(e.d.rules, i, "spec.rules"); err != nil {
				return err
			}
		}
		return nil
	}
	rules := e.d.rules
	// A rule is many lines; writing one into a flow list would mean
	// re-flowing the person's layout.
	if isFlow(e.d.root) || isFlow(rules) {
		return routeUnsupportedf(rules.Line, "spec.rules is a flow-style list; write it in block style to let ferry add the header rule")
	}
	dash, err := e.dashColumn(rules, "spec.rules")
	if err != nil {
		return err
	}
	itemCol, err := itemColumn(e.s, rules.Content[0], dash)
	if err != nil {
		return err
	}
	st := e.st
	st.gap = itemCol - dash
	lines, err := st.seqLines(newSeq(e.headerRule()), dash, rules.Line)
	if err != nil {
		return err
	}
	// Before the comment lines that lead the first rule: they belong to it.
	first, err := e.s.offset(rules)
	if err != nil {
		return err
	}
	at := e.s.lineStart(first)
	for at > 0 {
		prev := e.s.lineStart(at - 1)
		if !strings.HasPrefix(strings.TrimSpace(string(e.s.src[prev:at])), "#") {
			break
		}
		at = prev
	}
	e.s.insertLines(at, lines...)
	return nil
}

// headerRule is a copy of the stable rule sending the requests with the header to
// the canary: every match gains the header (so the rule outranks the stable one for
// the same paths), mirror filters are left out and the rule name is dropped (names
// are unique).
func (e *routeEditor) headerRule() *yaml.Node {
	h := e.spec.Header
	header := newMap("name", newStr(h.Name), "value", newStr(h.Value))
	rule := newMap()
	sawMatches := false
	for i := 0; i+1 < len(e.d.stableRule.Content); i += 2 {
		k, v := e.d.stableRule.Content[i], e.d.stableRule.Content[i+1]
		switch k.Value {
		case "name":
		case "backendRefs":
			rule.Content = append(rule.Content, clone(k), newSeq(e.backendRef(e.spec.Canary)))
		case "matches":
			sawMatches = true
			rule.Content = append(rule.Content, clone(k), withHeader(v, header))
		case "filters":
			if f := withoutMirrors(v); len(f.Content) > 0 {
				rule.Content = append(rule.Content, clone(k), f)
			}
		default:
			rule.Content = append(rule.Content, clone(k), clone(v))
		}
	}
	// A rule without matches matches every request: the A/B rule must
	// match only requests with the header.
	if !sawMatches {
		rule.Content = append([]*yaml.Node{newStr("matches"), newSeq(newMap("headers", newSeq(header)))}, rule.Content...)
	}
	return rule
}

// withHeader copies a rule's matches, each with header replacing any header match
// of the same name.
func withHeader(matches, header *yaml.Node) *yaml.Node {
	matches = deref(matches)
	if matches.Kind != yaml.SequenceNode || len(matches.Content) == 0 {
		return newSeq(newMap("headers", newSeq(header)))
	}
	out := newSeq()
	for _, m := range matches.Content {
		c := clone(m)
		if c.Kind != yaml.MappingNode {
			continue
		}
		hs := newSeq()
		at := -1
		for i := 0; i+1 < len(c.Content); i += 2 {
			if c.Content[i].Value != "headers" {
				continue
			}
			at = i
			// A match that already tests this header would test it twice,
			// with two values, and never match.
			for _, old := range c.Content[i+1].Content {
				if !strings.EqualFold(childString(old, "name"), header.Content[1].Value) {
					hs.Content = append(hs.Content, old)
				}
			}
		}
		hs.Content = append(hs.Content, clone(header))
		if at >= 0 {
			c.Content[at+1] = hs
		} else {
			c.Content = append(c.Content, newStr("headers"), hs)
		}
		out.Content = append(out.Content, c)
	}
	return out
}

func withoutMirrors(filters *yaml.Node) *yaml.Node {
	out := newSeq()
	for _, f := range deref(filters).Content {
		if deref(f).Kind != yaml.MappingNode || childString(deref(f), "type") != "RequestMirror" {
			out.Content = append(out.Content, clone(f))
		}
	}
	return out
}

// setMirror appends a RequestMirror filter to the canary to the stable rule, or
// removes every such filter (and the filters key when nothing else is left).
func (e *routeEditor) setMirror(cur, want bool) error {
	d := e.d
	switch {
	case cur == want:
		return nil
	// The key goes too when only mirrors were left: the route returns to
	// what it was before the step, not to an empty `filters: []`.
	case !want && len(d.mirrors) == len(d.filters.Content):
		return e.removeKey(d.stableRule, "filters")
	case !want:
		for _, j := range d.mirrors {
			if err := e.removeItem(d.filters, j, "filters"); err != nil {
				return err
			}
		}
		return nil
	}
	filter := newMap("type", newStr("RequestMirror"), "requestMirror", newMap("backendRef", e.backendRef(e.spec.Canary)))
	if d.filters != nil && len(d.filters.Content) > 0 {
		return e.appendItem(d.filters, filter, "filters")
	}
	if e.inFlow(d.stableRule) {
		return routeUnsupportedf(d.stableRule.Line, "the stable rule is flow-style; write it in block style to let ferry add the mirror filter")
	}
	col, err := e.keyColumn(d.stableRule)
	if err != nil {
		return err
	}
	if d.filtersKey == nil {
		end, err := e.s.nodeEnd(d.stableRule, col, false)
		if err != nil {
			return err
		}
		lines, err := e.st.mapLines(newMap("filters", newSeq(filter)), col, d.stableRule.Line)
		if err != nil {
			return err
		}
		e.s.insertLines(e.s.nextLine(end), lines...)
		return nil
	}
	// `filters:`, `filters: ~` or `filters: []` becomes a block list.
	_, v, err := lookup(d.stableRule, "filters")
	if err != nil {
		return err
	}
	end, err := colonAfter(e.s, d.filtersKey, false)
	if err != nil {
		return err
	}
	if !isImplicitNull(v) {
		colon := end
		if end, err = e.s.nodeEnd(v, col, false); err != nil {
			return err
		}
		e.s.replace(colon, end, "")
	}
	lines, err := e.st.seqLines(newSeq(filter), col+e.st.dashOff, d.filtersKey.Line)
	if err != nil {
		return err
	}
	e.s.insertLines(e.s.nextLine(end), lines...)
	return nil
}

// removeItem deletes item i of a block list with its whole lines.
func (e *routeEditor) removeItem(seq *yaml.Node, i int, what string) error {
	item := seq.Content[i]
	// Removal works on whole lines, which a flow collection does not have.
	if isFlow(seq) || isFlow(item) || isFlow(e.d.root) {
		return routeUnsupportedf(item.Line, "%s is flow-style; write it in block style to let ferry remove from it", what)
	}
	off, err := e.s.offset(item)
	if err != nil {
		return err
	}
	// Walk back from the item to its dash: it must start its own line, or
	// removing the lines would take other text along.
	dash := off - 1
	for dash >= 0 && isBlank(e.s.src[dash]) {
		dash--
	}
	start := 0
	if dash >= 0 {
		start = e.s.lineStart(dash)
	}
	if dash < 0 || e.s.src[dash] != '-' || strings.TrimLeft(string(e.s.src[start:dash]), " ") != "" {
		return routeUnsupportedf(item.Line, "%s[%d] is not a block list item on its own line", what, i)
	}
	end, err := e.s.nodeEnd(item, dash-start, false)
	if err != nil {
		return err
	}
	// The comment lines right above the item, at its dash's column, go with it (an
	// inserted A/B rule goes above the comments leading the rule after it).
	for start > 0 {
		prev := e.s.lineStart(start - 1)
		line := string(e.s.src[prev:start])
		if trimmed := strings.TrimLeft(line, " "); !strings.HasPrefix(trimmed, "#") || len(line)-len(trimmed) != dash-e.s.lineStart(dash) {
			break
		}
		start = prev
	}
	e.s.replace(start, e.s.nextLine(end), "")
	return nil
}

// removeKey deletes a key and its value from a block mapping.
func (e *routeEditor) removeKey(m *yaml.Node, key string) error {
	if e.inFlow(m) {
		return routeUnsupportedf(m.Line, "%s is in a flow-style mapping; write it in block style to let ferry remove it", key)
	}
	col, err := e.keyColumn(m)
	if err != nil {
		return err
	}
	for p := 0; p+1 < len(m.Content); p += 2 {
		k, v := m.Content[p], m.Content[p+1]
		if k.Value != key {
			continue
		}
		keyStart, err := e.s.offset(k)
		if err != nil {
			return err
		}
		valueEnd, err := e.s.nodeEnd(v, col, false)
		if err != nil {
			return err
		}
		start := e.s.lineStart(keyStart)
		switch {
		case strings.TrimLeft(string(e.s.src[start:keyStart]), " ") == "":
			e.s.replace(start, e.s.nextLine(valueEnd), "")
		case p+2 < len(m.Content):
			// The key shares its list item's dash line: the next key moves up.
			next, err := e.s.offset(m.Content[p+2])
			if err != nil {
				return err
			}
			e.s.replace(keyStart, next, "")
		// Removing the only key would leave an empty item to reformat.
		default:
			return routeUnsupportedf(k.Line, "cannot remove %s, the only key of its mapping", key)
		}
		return nil
	}
	return nil
}
