package notation

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
)

// maxPolicyBytes caps trustpolicy.json; real ones are a few KiB.
const maxPolicyBytes = 1 << 20

// loadPolicy reads and validates notation's trustpolicy.json at file.
func loadPolicy(file string) (*trustpolicy.Document, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("notation trust policy %s: %w", file, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("notation trust policy %s: %w", file, err)
	}
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("notation trust policy %s: over %d bytes", file, maxPolicyBytes)
	}
	doc, err := parsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("notation trust policy %s: %w", file, err)
	}
	return doc, nil
}

// parsePolicy decodes a trust policy strictly (an unknown field is a typo
// that would otherwise loosen nothing visibly) and applies notation's own
// rules (version 1.0, unique names and scopes, levels, store and identity
// syntax). Syntax errors say line and column.
func parsePolicy(data []byte) (*trustpolicy.Document, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc trustpolicy.Document
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(data, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON document", position(data, dec.InputOffset()))
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	return &doc, nil
}

func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	// Both offsets count the bytes read up to and including the culprit.
	case errors.As(err, &se):
		return fmt.Errorf("%s: malformed JSON: %w", position(data, se.Offset-1), err)
	case errors.As(err, &te):
		return fmt.Errorf("%s: %w", position(data, te.Offset-1), err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return fmt.Errorf("%s: malformed JSON: unexpected end of input", position(data, int64(len(data))))
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// position is "line L, column C" (1-based) of byte offset off.
func position(data []byte, off int64) string {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, off)
}

// storeFS is the trust store directory of ferry.yaml as notation's SysFS:
// notation asks for {config}/truststore/x509/TYPE/NAME, and ferry's
// directory is the truststore directory itself.
type storeFS struct {
	fs.FS
	root string
}

func newStoreFS(root string) storeFS { return storeFS{FS: os.DirFS(root), root: root} }

func (s storeFS) SysPath(items ...string) (string, error) {
	p := path.Join(items...)
	rel, ok := strings.CutPrefix(p, dir.TrustStoreDir+"/")
	if !ok || !fs.ValidPath(rel) {
		return "", fmt.Errorf("path %q is outside the trust store", p)
	}
	return filepath.Join(s.root, filepath.FromSlash(rel)), nil
}

// loadStores loads every trust store the policies name, so that a missing,
// empty or unreadable one is refused now rather than at the first image,
// and verification reads no file afterwards.
func loadStores(ctx context.Context, doc *trustpolicy.Document, dirPath string) (*loadedStore, error) {
	st, err := os.Stat(dirPath)
	if err != nil {
		return nil, fmt.Errorf("notation trust store %s: %w", dirPath, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("notation trust store %s: not a directory", dirPath)
	}
	disk := truststore.NewX509TrustStore(newStoreFS(dirPath))
	ls := &loadedStore{certs: map[string][]*x509.Certificate{}}
	for _, p := range doc.TrustPolicies {
		for _, ts := range p.TrustStores {
			if _, ok := ls.certs[ts]; ok {
				continue
			}
			typ, name, _ := strings.Cut(ts, ":") // the syntax was validated
			certs, err := disk.GetCertificates(ctx, truststore.Type(typ), name)
			if err != nil {
				return nil, fmt.Errorf("notation trust store %s: trust policy %q names %s (%s): %w",
					dirPath, p.Name, ts, filepath.Join(dirPath, "x509", typ, name), err)
			}
			ls.certs[ts] = certs
		}
	}
	return ls, nil
}

// loadedStore is the trust stores as read by New: notation's
// X509TrustStore without file reads per verification, and without a store
// edited on disk since New taking effect half-way.
type loadedStore struct {
	certs map[string][]*x509.Certificate // "ca:acme" -> its certificates
}

func (s *loadedStore) GetCertificates(_ context.Context, typ truststore.Type, name string) ([]*x509.Certificate, error) {
	certs, ok := s.certs[string(typ)+":"+name]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the trust store %q of type %q is not named by the trust policy", name, typ)}
	}
	return slices.Clone(certs), nil
}
