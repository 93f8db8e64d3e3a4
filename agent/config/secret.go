package config

import (
	"fmt"
	"os"
	"strings"
	"unicode"
)

// ReadSecret returns the content of a secret file (password, token) without
// its trailing whitespace. Errors name the file, never what it holds; an
// empty file is an error so a missing secret cannot pass as "no password".
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err) // *PathError: op, path and cause only
	}
	s := strings.TrimRightFunc(string(b), unicode.IsSpace)
	if s == "" {
		return "", fmt.Errorf("read secret %s: file is empty", path)
	}
	return s, nil
}
