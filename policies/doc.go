// Package policies decides promotions with Rego: it loads the policies of a
// fleet repo (package ferry.promotion, rules "deny contains msg" and "warn
// contains msg"), evaluates them with one prepared query per Engine, runs
// their Rego tests like `opa test`, and embeds the default policies that
// `ferry demo` seeds a fleet repo with.
//
// A promotion is allowed when deny is empty. Everything else fails closed:
// a compile error, an evaluation error (built-in errors included, so a bad
// timestamp cannot silently skip a rule), an undefined result or a message
// that is not a string is an error, never an allow. The one exception is a
// policy directory with no Rego policy files (tests and docs aside):
// ferry.yaml may set no policies, and then every promotion is allowed. A
// directory that does not exist is an error wrapping fs.ErrNotExist; since
// Git stores no empty directory, the agent treats that case as "no
// policies" itself.
//
// Policies are compiled in strict mode against input.schema.json when the
// directory has one, so a policy reading input.evidence.trivvy fails to
// compile, and without network or runtime built-ins (http.send, net.*,
// opa.runtime): decisions depend only on the input ferry gathered.
package policies
