package gitsig

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an allowed-signers file (ssh-keygen(1),
// ALLOWED SIGNERS): the principals a key speaks for, where and when.
type AllowedSigner struct {
	Principals []string
	Namespaces []string // empty: any namespace
	ValidAfter time.Time
	// ValidBefore is zero when open-ended.
	ValidBefore time.Time
	Key         ssh.PublicKey
	Line        int
}

// ParseAllowedSigners reads git's gpg.ssh.allowedSignersFile format:
//
//	principals [options] keytype base64-key [comment]
//
// with '#' comment lines and blank lines. Options: namespaces="a,b",
// valid-after="YYYYMMDD[HHMM[SS]][Z]", valid-before=...; cert-authority is
// refused (ferry checks plain keys only). Errors name file and line.
func ParseAllowedSigners(file string, data []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimSpace(strings.TrimSuffix(string(raw), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, i+1, err)
		}
		s.Line = i + 1
		out = append(out, s)
	}
	return out, nil
}

func parseSignerLine(line string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := nextField(line)
	if err != nil {
		return s, err
	}
	for _, p := range strings.Split(principals, ",") {
		if p = strings.TrimSpace(p); p != "" {
			s.Principals = append(s.Principals, p)
		}
	}
	if len(s.Principals) == 0 {
		return s, fmt.Errorf("no principals")
	}
	// The options field is there unless the next field is a key type.
	field, after, err := nextField(rest)
	if err != nil {
		return s, err
	}
	if field == "" {
		return s, fmt.Errorf("no public key after the principals")
	}
	if !isKeyType(field) {
		if err := s.parseOptions(field); err != nil {
			return s, err
		}
		rest = after
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("public key: %v", err)
	}
	s.Key = key
	return s, nil
}

func isKeyType(f string) bool {
	for _, p := range []string{"ssh-", "ecdsa-", "sk-ssh-", "sk-ecdsa-", "rsa-sha2-"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// nextField splits off the first whitespace-separated field, honouring
// double quotes inside it (namespaces="a,b c" stays one field).
func nextField(s string) (field, rest string, err error) {
	s = strings.TrimLeft(s, " \t")
	quoted := false
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case (r == ' ' || r == '\t') && !quoted:
			return s[:i], strings.TrimLeft(s[i:], " \t"), nil
		}
	}
	if quoted {
		return "", "", fmt.Errorf("unterminated quote")
	}
	return s, "", nil
}

func (s *AllowedSigner) parseOptions(field string) error {
	for _, opt := range splitOptions(field) {
		name, val, hasVal := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		if hasVal {
			if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
				return fmt.Errorf("option %s: the value must be in double quotes", name)
			}
			val = val[1 : len(val)-1]
		}
		switch name {
		case "namespaces":
			for _, n := range strings.Split(val, ",") {
				if n = strings.TrimSpace(n); n != "" {
					s.Namespaces = append(s.Namespaces, n)
				}
			}
			if len(s.Namespaces) == 0 {
				return fmt.Errorf("option namespaces: empty")
			}
		case "valid-after", "valid-before":
			t, err := parseSignerTime(val)
			if err != nil {
				return fmt.Errorf("option %s: %w", name, err)
			}
			if name == "valid-after" {
				s.ValidAfter = t
			} else {
				s.ValidBefore = t
			}
		case "cert-authority":
			return fmt.Errorf("cert-authority is not supported: list the signers' keys")
		default:
			return fmt.Errorf("unknown option %q", name)
		}
	}
	return nil
}

// splitOptions splits on commas outside double quotes.
func splitOptions(s string) []string {
	var out []string
	quoted, start := false, 0
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// parseSignerTime reads ssh-keygen's YYYYMMDD[HHMM[SS]] with an optional
// Z for UTC; without it the time is local, as ssh-keygen reads it.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	return t, nil
}

// allows says whether the line lets its key sign git commits at when.
func (s AllowedSigner) allows(when time.Time) (bool, string) {
	if len(s.Namespaces) > 0 {
		ok := false
		for _, n := range s.Namespaces {
			if n == Namespace || n == "*" {
				ok = true
			}
		}
		if !ok {
			return false, fmt.Sprintf("the key is allowed for namespaces %q only, not %q (allowed signers line %d)", strings.Join(s.Namespaces, ","), Namespace, s.Line)
		}
	}
	if !s.ValidAfter.IsZero() && when.Before(s.ValidAfter) {
		return false, fmt.Sprintf("the key is valid after %s only (allowed signers line %d)", s.ValidAfter.UTC().Format(time.RFC3339), s.Line)
	}
	if !s.ValidBefore.IsZero() && !when.Before(s.ValidBefore) {
		return false, fmt.Sprintf("the key was valid before %s only (allowed signers line %d)", s.ValidBefore.UTC().Format(time.RFC3339), s.Line)
	}
	return true, ""
}
