// Package overlays edits and renders the Kustomize overlays of a fleet repo, and
// embeds the example fleet used by `ferry demo` and the end-to-end tests.
//
// SetImage bumps one entry of a kustomization's `images:` list. It writes both the
// tag and the digest:
//
//	images:
//	- name: registry.example/shop/checkout
//	  newName: 127.0.0.1:5000/shop/checkout
//	  newTag: 1.2.3
//	  digest: sha256:0123...
//
// and kustomize renders that entry as `127.0.0.1:5000/shop/checkout:1.2.3@sha256:0123...`
// (checked by TestRenderAfterSetImage): the digest pins the image, the tag keeps it
// readable for people and for `ferry plan`.
//
// Edits are byte splices at the positions kyaml's YAML parser reports, so everything
// that is not the edited value (comments, blank lines, key order, quoting, indentation,
// line endings) stays byte for byte and a diff shows only the changed lines. A
// kyaml encode round trip would not: it drops blank lines, re-indents 4-space lists and
// re-spaces line comments. What cannot be spliced safely (anchors or aliases in the
// images list, a file that is not UTF-8, line breaks other than LF and CRLF, a
// trailing "..." marker) is refused with ErrUnsupported, never rewritten.
//
// Render runs krusty (kustomize's library) on a copy of the fleet tree in memory;
// RenderImages lists the container images of its output, to check a bump rendered as
// intended.
package overlays
