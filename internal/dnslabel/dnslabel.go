// Package dnslabel is the one rule for the names ferry's files give apps,
// environments, analyses and freezes: an RFC 1123 label, because names end
// up in commit trailers, metric labels, branch names and Kubernetes names.
package dnslabel

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/text"
)

// MaxLen is RFC 1123's limit on a label, in characters.
const MaxLen = 63

// echoLen bounds how much of a refused name an error repeats: a
// 10,000-character name must not come back whole.
const echoLen = 40

var label = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Valid reports whether name is a DNS label of at most MaxLen characters.
func Valid(name string) bool { return len(name) <= MaxLen && label.MatchString(name) }

// Check says why name is not a DNS label, stating the rule and the limit;
// "" when it is one. An empty name is for the caller to call required.
// The name is quoted cut to 40 characters, with its length when cut.
func Check(name string) string {
	switch {
	case Valid(name):
		return ""
	case utf8.RuneCountInString(name) > MaxLen:
		return fmt.Sprintf("%s is too long: a name is at most %d characters (a DNS label)", Quote(name), MaxLen)
	}
	return fmt.Sprintf("%s must be lower-case letters, digits and '-', at most %d characters (a DNS label)", Quote(name), MaxLen)
}

// Quote is how errors echo a name, valid or not: %q, cut to 40
// characters with its full length when longer.
func Quote(name string) string { return text.Quote(name, echoLen) }
