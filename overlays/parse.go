package overlays

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/ferry-dev/ferry/internal/text"
)

// ErrInvalid marks a kustomization whose images list cannot be read. The
// agent treats it as that environment's error: nothing moves into or out of
// it, and the other environments go on.
var ErrInvalid = errors.New("invalid kustomization")

// ErrUnsupported marks valid YAML that SetImage will not edit in place (anchors and
// aliases in the images list, complex keys, a multi-line plain scalar in a flow list).
var ErrUnsupported = errors.New("unsupported kustomization layout")

// Image is one entry of a kustomization's images list.
type Image struct {
	Name    string `yaml:"name"`
	NewName string `yaml:"newName,omitempty"`
	NewTag  string `yaml:"newTag,omitempty"`
	Digest  string `yaml:"digest,omitempty"`
}

// Keys of an images entry in the order kustomize writes them; new keys go after
// their nearest existing predecessor in this order.
const (
	keyName = iota
	keyNewName
	keyNewTag
	keyDigest
	numKeys
)

var keyNames = [numKeys]string{"name", "newName", "newTag", "digest"}

// pair is one key/value of a mapping; idx is the key's index in Content.
type pair struct {
	key, value *yaml.Node
	idx        int
}

// entry is one mapping of the images list with its known fields.
type entry struct {
	index  int
	node   *yaml.Node
	fields [numKeys]*pair
}

func (e *entry) get(k int) string {
	if p := e.fields[k]; p != nil {
		return scalarValue(p.value)
	}
	return ""
}

func (e *entry) image() Image {
	return Image{Name: e.get(keyName), NewName: e.get(keyNewName), NewTag: e.get(keyNewTag), Digest: e.get(keyDigest)}
}

// document is a parsed kustomization. root is nil for an empty document.
type document struct {
	root      *yaml.Node
	imagesKey *yaml.Node
	images    *yaml.Node // nil when absent
	entries   []*entry
}

func invalidf(line int, format string, args ...any) error {
	if line > 0 {
		return fmt.Errorf("%w: line %d: %s", ErrInvalid, line, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// parse reads one kustomization document and its images list. With forEdit, anchors
// and aliases inside the images list are refused, since an in-place edit of an
// anchored value would change every alias of it too.
func parse(data []byte, forEdit bool) (*document, error) {
	// A node tree, not a typed decode: the splicer needs every value's line
	// and column.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &document{}, nil // empty or comments only
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// A second document is refused, not ignored: which one a reader takes
	// is not for ferry to guess.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil, invalidf(extra.Line, "a second YAML document; a kustomization is one document")
	}
	if len(doc.Content) != 1 {
		return nil, invalidf(doc.Line, "document has no content node")
	}
	root := doc.Content[0]
	if isImplicitNull(root) {
		return &document{}, nil // a lone "---"
	}
	if root.Kind != yaml.MappingNode {
		return nil, invalidf(root.Line, "document is %s; want a mapping", kindName(root))
	}
	d := &document{root: root}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Kind != yaml.ScalarNode || k.Value != "images" {
			continue
		}
		// Readers disagree on which duplicate wins, so an edit to either
		// would be a guess.
		if d.imagesKey != nil {
			return nil, invalidf(k.Line, "duplicate key images (first at line %d)", d.imagesKey.Line)
		}
		d.imagesKey, d.images = k, root.Content[i+1]
	}
	if d.images == nil {
		return d, nil
	}
	// Reading tolerates anchors; only an edit in place would change the
	// aliases too.
	seq := d.images
	if forEdit && (seq.Anchor != "" || seq.Kind == yaml.AliasNode) {
		return nil, fmt.Errorf("%w: line %d: images uses a YAML anchor or alias", ErrUnsupported, seq.Line)
	}
	seq = deref(seq)
	switch {
	case isNull(seq):
		return d, nil
	case seq.Kind != yaml.SequenceNode:
		return nil, invalidf(seq.Line, "images is %s; want a list", kindName(seq))
	}
	for i, n := range seq.Content {
		e, err := parseEntry(i, n, forEdit)
		if err != nil {
			return nil, err
		}
		d.entries = append(d.entries, e)
	}
	return d, nil
}

func parseEntry(i int, n *yaml.Node, forEdit bool) (*entry, error) {
	if forEdit && (n.Anchor != "" || n.Kind == yaml.AliasNode) {
		return nil, fmt.Errorf("%w: line %d: images[%d] uses a YAML anchor or alias", ErrUnsupported, n.Line, i)
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, invalidf(n.Line, "images[%d] is %s; want a mapping", i, kindName(n))
	}
	e := &entry{index: i, node: n}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Kind != yaml.ScalarNode {
			continue
		}
		for f, name := range keyNames {
			if k.Value != name {
				continue
			}
			// As for images: which duplicate wins is a guess.
			if e.fields[f] != nil {
				return nil, invalidf(k.Line, "images[%d] has a duplicate key %s", i, name)
			}
			if forEdit && (v.Anchor != "" || v.Kind == yaml.AliasNode || k.Anchor != "") {
				return nil, fmt.Errorf("%w: line %d: images[%d].%s uses a YAML anchor or alias", ErrUnsupported, k.Line, i, name)
			}
			if dv := deref(v); dv.Kind != yaml.ScalarNode {
				return nil, invalidf(v.Line, "images[%d].%s is %s; want a string", i, name, kindName(dv))
			}
			e.fields[f] = &pair{key: k, value: v, idx: j}
		}
	}
	if e.get(keyName) == "" {
		return nil, invalidf(n.Line, "images[%d] has no name", i)
	}
	return e, nil
}

// deref follows an alias to its anchored node, a bounded number of times so
// a pathological chain cannot loop.
func deref(n *yaml.Node) *yaml.Node {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 16; depth++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func isImplicitNull(n *yaml.Node) bool {
	return isNull(n) && n.Value == "" && n.Style == 0
}

// scalarValue is the string a scalar holds; null reads as "".
func scalarValue(n *yaml.Node) string {
	n = deref(n)
	if isNull(n) {
		return ""
	}
	return n.Value
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return fmt.Sprintf("a scalar (%q)", truncate(n.Value, 40))
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

// truncate keeps quoted input in errors short; route.go shares it.
func truncate(s string, n int) string { return text.Truncate(s, n) }

// ReadImages returns the images list of a kustomization.yaml, in document order.
// An empty document has no images.
func ReadImages(data []byte) ([]Image, error) {
	d, err := parse(stripBOM(data), false)
	if err != nil {
		return nil, fmt.Errorf("read images: %w", err)
	}
	imgs := make([]Image, 0, len(d.entries))
	for _, e := range d.entries {
		imgs = append(imgs, e.image())
	}
	return imgs, nil
}

// bom is stripped before parsing and put back on output (SetImage,
// SetRoute), so a file an editor saved with a BOM keeps it.
var bom = []byte("\xef\xbb\xbf")

func stripBOM(data []byte) []byte {
	return bytes.TrimPrefix(data, bom)
}
