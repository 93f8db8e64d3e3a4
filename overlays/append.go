package overlays

import (
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// appendEntry adds a new images entry, creating the list when it is absent, null or
// an empty flow list. New lists copy the sequence layout the document already uses.
func appendEntry(s *splicer, d *document, img Image) error {
	// An empty kustomization gets kustomize's own layout.
	if d.root == nil {
		s.insertLines(len(s.src), append([]string{"images:"}, blockEntry(img, 0, 2)...)...)
		return nil
	}
	if d.root.Style&yaml.FlowStyle != 0 {
		return appendFlowRoot(s, d, img)
	}
	rootOff, err := s.offset(d.root)
	if err != nil {
		return err
	}
	keyCol := s.column(rootOff)
	// Copy how the file indents its other lists, so the new lines look like
	// the old ones and the diff is only them.
	dashOff, gap, err := seqLayout(s, d.root)
	if err != nil {
		return err
	}
	dash := keyCol + dashOff
	switch {
	// No images key: the list goes at the end of the file, which must still
	// be inside the document.
	case d.images == nil:
		rootEnd, err := s.nodeEnd(d.root, keyCol, false)
		if err != nil {
			return err
		}
		if docEnd.Match(s.src[rootEnd:]) {
			return unsupportedf(d.root.Line, "a document end marker (...) follows the kustomization")
		}
		s.insertLines(len(s.src), append([]string{strings.Repeat(" ", keyCol) + "images:"}, blockEntry(img, dash, dash+gap)...)...)
		return nil
	case isNull(d.images), d.images.Style&yaml.FlowStyle != 0 && len(d.images.Content) == 0:
		// `images:`, `images: ~` or `images: []` becomes a block list.
		colon, err := colonAfter(s, d.imagesKey, false)
		if err != nil {
			return err
		}
		end := colon
		if !isImplicitNull(d.images) {
			if end, err = s.nodeEnd(d.images, keyCol, false); err != nil {
				return err
			}
			s.replace(colon, end, "")
		}
		s.insertLines(s.nextLine(end), blockEntry(img, dash, dash+gap)...)
		return nil
	// A flow list stays flow: the entry is appended inside the brackets.
	case d.images.Style&yaml.FlowStyle != 0:
		at, err := s.nodeEnd(d.images.Content[len(d.images.Content)-1], 0, true)
		if err != nil {
			return err
		}
		s.replace(at, at, ", "+flowEntry(img))
		return nil
	}
	seqOff, err := s.offset(d.images)
	if err != nil {
		return err
	}
	// A tag sits where the dash should be: refuse rather than guess the
	// dash's column.
	if s.src[seqOff] != '-' {
		return unsupportedf(d.images.Line, "images has a tag before its first item")
	}
	// The list's own layout wins over the file's, and the new item copies
	// its last neighbour.
	dash = s.column(seqOff)
	last := d.images.Content[len(d.images.Content)-1]
	item, err := itemColumn(s, last, dash)
	if err != nil {
		return err
	}
	end, err := s.nodeEnd(last, dash, false)
	if err != nil {
		return err
	}
	s.insertLines(s.nextLine(end), blockEntry(img, dash, item)...)
	return nil
}

// docEnd matches a "..." document end marker line. Text appended after it
// would lie outside the document, so the edit is refused instead.
var docEnd = regexp.MustCompile(`(?m)^\.\.\.([ \t#\r]|$)`)

// appendFlowRoot handles a kustomization written as one flow mapping. The
// entry is written in flow syntax too: block lines inside braces are invalid.
func appendFlowRoot(s *splicer, d *document, img Image) error {
	list := "[" + flowEntry(img) + "]"
	switch {
	case d.images != nil && len(d.images.Content) > 0:
		at, err := s.nodeEnd(d.images.Content[len(d.images.Content)-1], 0, true)
		if err != nil {
			return err
		}
		s.replace(at, at, ", "+flowEntry(img))
	case d.images != nil:
		colon, err := colonAfter(s, d.imagesKey, true)
		if err != nil {
			return err
		}
		end := colon
		if !isImplicitNull(d.images) {
			if end, err = s.nodeEnd(d.images, 0, true); err != nil {
				return err
			}
		}
		s.replace(colon, end, " "+list)
	case len(d.root.Content) == 0:
		off, err := s.offset(d.root)
		if err != nil {
			return err
		}
		off = s.skipProps(off) + 1 // just past '{'
		s.replace(off, off, "images: "+list)
	default:
		at, err := s.nodeEnd(d.root.Content[len(d.root.Content)-1], 0, true)
		if err != nil {
			return err
		}
		s.replace(at, at, ", images: "+list)
	}
	return nil
}

// itemColumn is the column of a block list item's content: where it starts when it
// shares a line with its dash, else two deeper than the dash (an empty item "-"
// reports the column right after the dash).
func itemColumn(s *splicer, item *yaml.Node, dash int) (int, error) {
	off, err := s.offset(item)
	if err != nil {
		return 0, err
	}
	if col := s.column(off); col >= dash+2 && strings.TrimSpace(string(s.src[s.lineStart(off):off])) == "-" {
		return col, nil
	}
	return dash + 2, nil
}

// seqLayout reports how the document indents block lists under a key: the dash's
// offset from the key and the item's offset from the dash. Without any block list
// it is kustomize's own layout (0, 2).
func seqLayout(s *splicer, root *yaml.Node) (dashOff, gap int, err error) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		v := root.Content[i+1]
		if v.Kind != yaml.SequenceNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
			continue
		}
		keyOff, err := s.offset(root.Content[i])
		if err != nil {
			return 0, 0, err
		}
		seqOff, err := s.offset(v)
		if err != nil {
			return 0, 0, err
		}
		if s.src[seqOff] != '-' {
			continue
		}
		dash := s.column(seqOff)
		item, err := itemColumn(s, v.Content[0], dash)
		if err != nil {
			return 0, 0, err
		}
		return dash - s.column(keyOff), item - dash, nil
	}
	return 0, 2, nil
}
