// Package policies decides promotions with Rego: it loads the policies of a
// fleet repo (package ferry.promotion) with their JSON and YAML data files,
// evaluates them with one prepared query per Engine, runs their Rego tests
// like `opa test`, and embeds the default policies that `ferry demo` seeds a
// fleet repo with.
//
// Decision rules follow conftest's names: deny, violation, deny_NAME and
// violation_NAME are denials, warn and warn_NAME warnings; each must be a
// set of strings or of {"msg": string} objects. A promotion is allowed when
// every denial set is empty. Everything else fails closed: a compile error,
// a decision rule of another shape, bad data, an evaluation error (built-in
// errors included, so a bad timestamp cannot silently skip a rule), a
// decision that runs past its time limit (ErrDecisionTimeout), an undefined
// result or a message of another type is an error, never an allow. The one
// exception is a policy directory with no Rego policy files (tests, data
// and docs aside): ferry.yaml may set no policies, and then every promotion
// is allowed. A directory that does not exist is an error wrapping
// fs.ErrNotExist; since Git stores no empty directory, the agent treats
// that case as "no policies" itself.
//
// Policies are compiled in strict mode against input.schema.json when the
// directory has one, so a policy reading input.evidence.trivvy fails to
// compile, and without network or runtime built-ins (http.send, net.*,
// opa.runtime): decisions depend only on the input ferry gathered and the
// data files committed beside the policies.
package policies
