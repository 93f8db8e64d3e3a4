// Package text shortens outside text (YAML values, controller messages,
// names) for errors and logs without cutting a UTF-8 character in two: a
// cut in the middle of a multi-byte character leaves invalid UTF-8 that
// terminals and JSON encoders turn into U+FFFD or reject.
package text

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Ellipsis marks where Truncate cut.
const Ellipsis = "…"

// Truncate returns s when it has at most max runes; otherwise its first
// max-1 runes followed by Ellipsis, so the result is max runes long. It
// cuts between runes (code points), never inside one; a combining mark
// may still be separated from its base. Bytes that are not UTF-8 count as
// one rune each and are kept as they are. max < 1 gives "".
func Truncate(s string, max int) string {
	if max < 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + Ellipsis
		}
		n++
	}
	return s // not reached: s has more than max runes
}

// TruncateBytes returns s when it is at most max bytes long; otherwise the
// longest prefix that ends on a rune boundary and leaves room for
// Ellipsis, followed by it, so the result is at most max bytes. Use it
// where the limit is in bytes (a header, a protocol field).
func TruncateBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max < len(Ellipsis) {
		return ""
	}
	cut := max - len(Ellipsis)
	// Step back over continuation bytes to the start of the cut rune.
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis
}

// Quote is %q of s cut to max runes, followed by its full length when it
// was cut, so an error can echo an oversized value without repeating it:
// "aaaa…" (10000 characters).
func Quote(s string, max int) string {
	n := utf8.RuneCountInString(s)
	if n <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q (%d characters)", Truncate(s, max), n)
}

// Hidden reports a character a reader of one line does not see as itself:
// control characters (a newline, an escape), format characters (a
// zero-width space, a bidi override that reorders what is shown) and the
// line and paragraph separators U+2028/U+2029 that some viewers break on.
// Names and reasons that end up in trailers and logs refuse them, so what
// a person reads in git log is what was written.
func Hidden(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}
