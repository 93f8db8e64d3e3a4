package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content *string // nil: no file
		want    string
		wantErr string
	}{
		{name: "plain", content: ptr("s3cret"), want: "s3cret"},
		{name: "trailing newline", content: ptr("s3cret\n"), want: "s3cret"},
		{name: "crlf and spaces", content: ptr("s3cret \t\r\n\n"), want: "s3cret"},
		{name: "leading space kept", content: ptr(" s3 cret\n"), want: " s3 cret"},
		{name: "empty", content: ptr(""), wantErr: "file is empty"},
		{name: "only newline", content: ptr("\n"), wantErr: "file is empty"},
		{name: "missing", wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadSecret(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("ReadSecret = %q, %v; want an error naming %s with %q", got, err, path, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestReadSecretErrorHidesContent(t *testing.T) {
	// A directory fails after open; the error must still only name the path.
	dir := t.TempDir()
	_, err := ReadSecret(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("ReadSecret(dir) = %v", err)
	}
	_, err = ReadSecret(filepath.Join(dir, "nope"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error %v does not wrap os.ErrNotExist", err)
	}
}

func ptr(s string) *string { return &s }
