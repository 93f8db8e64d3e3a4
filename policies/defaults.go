package policies

import (
	"embed"
	"io/fs"
)

// Default holds the default policies, their tests and the input schema, as
// `ferry demo` seeds a fleet repo's policies/ with them.
//
//go:embed *.rego input.schema.json
var Default embed.FS

// defaultSchema types the input of policy directories that bring no
// input.schema.json of their own.
//
//go:embed input.schema.json
var defaultSchema []byte

// DefaultFiles returns Default's files by name (relative to the policy
// directory).
func DefaultFiles() map[string][]byte {
	out := map[string][]byte{}
	entries, err := fs.ReadDir(Default, ".")
	if err != nil {
		panic("policies: embedded files unreadable: " + err.Error()) // cannot happen: built in
	}
	for _, e := range entries {
		data, err := fs.ReadFile(Default, e.Name())
		if err != nil {
			panic("policies: embedded file unreadable: " + err.Error())
		}
		out[e.Name()] = data
	}
	return out
}
