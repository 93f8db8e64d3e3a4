package policies

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Rule names that make decisions, as conftest reads them
// (open-policy-agent/conftest, policy/engine.go): deny and violation with
// optional _suffixes are failures, warn with them warnings. Every other name
// (denylist, deny_, warning, ...) is a helper and stays free.
var (
	failureName = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)
	warningName = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)
)

// ruleKind says what a rule name of package ferry.promotion is for.
type ruleKind int

const (
	helperRule ruleKind = iota
	failureRule
	warningRule
)

func kindOf(name string) ruleKind {
	switch {
	case failureName.MatchString(name):
		return failureRule
	case warningName.MatchString(name):
		return warningRule
	}
	return helperRule
}

// promotionRef is the package whose decision rules ferry reads.
var promotionRef = ast.MustParseRef("data.ferry.promotion")

// decisionRules lists, sorted by name, the failure and warning rules the
// compiled policies define under data.ferry.promotion, however they are
// declared (package ferry.promotion, or package ferry with a
// promotion.deny_x head). Each must be a set of messages: a complete rule
// (deny := [...]), an object rule (deny[x] := y), a function or a rule
// nested below the name would not be read the way its author meant, so it
// is a compile error rather than a rule ferry skips.
func decisionRules(c *ast.Compiler) (failures, warnings []string, err error) {
	var errs ast.Errors
	seen := map[string]bool{}
	for _, r := range c.GetRulesWithPrefix(promotionRef) {
		full := r.Ref()
		if len(full) <= len(promotionRef) {
			continue // cannot happen: rules under the prefix are longer
		}
		key, ok := full[len(promotionRef)].Value.(ast.String)
		if !ok {
			// A name computed at evaluation (package ferry, promotion[k] := v)
			// could be deny_anything: refuse rather than guess.
			errs = append(errs, ast.NewError(ast.CompileErr, r.Location,
				"%s computes rule names inside data.ferry.promotion; give decision rules fixed names", full))
			continue
		}
		name := string(key)
		kind := kindOf(name)
		if kind == helperRule {
			continue
		}
		if len(full) != len(promotionRef)+1 || r.Head.RuleKind() != ast.MultiValue || len(r.Head.Args) > 0 {
			errs = append(errs, ast.NewError(ast.CompileErr, r.Location,
				"%s must be a set of messages: write `%s contains msg if { ... }`", name, name))
			continue
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		if kind == failureRule {
			failures = append(failures, name)
		} else {
			warnings = append(warnings, name)
		}
	}
	errs = append(errs, strayDecisionRules(c)...)
	if len(errs) > 0 {
		return nil, nil, compileError(errs)
	}
	if len(failures) == 0 {
		return nil, nil, fmt.Errorf("%w: no `deny contains msg` rule in package ferry.promotion (nor violation, deny_NAME or violation_NAME): without one every promotion would be allowed", ErrCompile)
	}
	slices.Sort(failures)
	slices.Sort(warnings)
	return failures, warnings, nil
}

// strayDecisionRules refuses rules named as decisions (deny, violation,
// warn, deny_NAME, ...) outside package ferry.promotion: ferry never reads
// them, so a conftest habit (package main, or one package per environment
// such as ferry.promotion.prod) would be a gate that silently allows.
// Tests (packages ending in _test) are left alone.
func strayDecisionRules(c *ast.Compiler) ast.Errors {
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		m := c.Modules[name]
		pkg := m.Package.Path
		if last, ok := pkg[len(pkg)-1].Value.(ast.String); ok && strings.HasSuffix(string(last), "_test") {
			continue
		}
		for _, r := range m.Rules {
			full := r.Ref()
			if !full.HasPrefix(pkg) {
				full = pkg.Extend(full) // a rule head relative to its package
			}
			if len(full) == len(promotionRef)+1 && full.HasPrefix(promotionRef) {
				continue // package ferry.promotion's own: decisionRules reads it
			}
			last, ok := full[len(full)-1].Value.(ast.String)
			if !ok || kindOf(string(last)) == helperRule || belowDecisionName(full) {
				continue // a helper, or a rule below a decision name (decisionRules says so)
			}
			errs = append(errs, ast.NewError(ast.CompileErr, r.Location,
				"%s is named as a decision rule but is in package %s, which ferry does not read: move it to package ferry.promotion (or rename it, if it is a helper)",
				last, strings.TrimPrefix(pkg.String(), "data.")))
		}
	}
	return errs
}

// belowDecisionName reports whether ref nests below a decision rule of
// package ferry.promotion (data.ferry.promotion.deny_x.y), which
// decisionRules refuses with its own message.
func belowDecisionName(ref ast.Ref) bool {
	if len(ref) <= len(promotionRef)+1 || !ref.HasPrefix(promotionRef) {
		return false
	}
	name, ok := ref[len(promotionRef)].Value.(ast.String)
	return ok && kindOf(string(name)) != helperRule
}

// ruleRef is data.ferry.promotion.NAME.
func ruleRef(name string) ast.Ref {
	return promotionRef.Append(ast.StringTerm(name))
}
