package overlays

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

var (
	// The tag and digest grammars of the OCI distribution spec.
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$`)
	sha256RE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// validate rejects values that are not image names, tags or digests, so that nothing
// odd (a newline, a YAML indicator) reaches a fleet repo.
func (img Image) validate() error {
	if img.Name == "" {
		return errors.New("image name is empty")
	}
	if err := checkName(img.Name); err != nil {
		return fmt.Errorf("image name %q: %w", img.Name, err)
	}
	if img.NewName != "" {
		if err := checkName(img.NewName); err != nil {
			return fmt.Errorf("newName %q of %s: %w", img.NewName, img.Name, err)
		}
	}
	if img.NewTag != "" && !tagRE.MatchString(img.NewTag) {
		return fmt.Errorf("newTag %q of %s: not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", img.NewTag, img.Name)
	}
	// A sha256 digest must be whole: a truncated one renders, and fails only
	// when the cluster pulls the image.
	if img.Digest != "" && (!digestRE.MatchString(img.Digest) ||
		strings.HasPrefix(img.Digest, "sha256:") && !sha256RE.MatchString(img.Digest)) {
		return fmt.Errorf("digest %q of %s: not a valid digest (want sha256:<64 hex>)", img.Digest, img.Name)
	}
	return nil
}

// checkName refuses what would change the YAML around a value: blanks and
// controls, '#' (a comment) and quotes. 1024 bytes bounds a hostile name.
func checkName(s string) error {
	if len(s) > 1024 {
		return errors.New("longer than 1024 bytes")
	}
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '#' || r == '"' || r == '\'' {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}

// formatScalar renders v for a value position: in the given quoting style, or plain
// when v reads back as the same string in YAML 1.1 and 1.2, else double-quoted.
func formatScalar(v string, style yaml.Style, flow bool) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(v) // Go's escapes are a subset of YAML's; v is valid UTF-8
	case style&yaml.SingleQuotedStyle != 0:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case canBePlain(v, flow):
		return v
	}
	return strconv.Quote(v)
}

func canBePlain(v string, flow bool) bool {
	if v == "" {
		return false
	}
	for i, r := range v {
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'):
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
		case i > 0 && strings.ContainsRune("._/@+=-:", r):
		case i == 0 && strings.ContainsRune("._/", r):
		default:
			return false
		}
	}
	// In a flow collection older parsers take any ':' for an indicator.
	if v[len(v)-1] == ':' || flow && strings.ContainsAny(v, ",[]{}:") {
		return false
	}
	// Numbers, booleans, nulls and timestamps start with a digit, a sign, a dot or one
	// of these letters; other values are strings in both YAML versions.
	if !strings.ContainsRune("0123456789.+-yYnNtTfFoO~", rune(v[0])) {
		return true
	}
	// A tag such as 1.10 must stay a string: read as a number it is 1.1,
	// another version.
	if yaml.IsValueNonString(v) { // YAML 1.1, as kubectl and the API server read it
		return false
	}
	// Last, the YAML 1.2 parser itself: plain only if it reads a string back.
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(v), &n); err != nil || len(n.Content) != 1 {
		return false
	}
	return n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!str"
}
