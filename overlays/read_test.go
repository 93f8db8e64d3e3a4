package overlays

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestReadImages(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []Image
	}{
		{"empty document", "", []Image{}},
		{"comments only", "# nothing yet\n", []Image{}},
		{"no images", "kind: Kustomization\nresources:\n- ../../base\n", []Image{}},
		{"null images", "images:\n", []Image{}},
		{"empty flow list", "images: []\n", []Image{}},
		{"block list", "images:\n- name: a\n  newName: b\n  newTag: \"1.0\"\n  digest: sha256:x\n- name: c\n", []Image{
			{Name: "a", NewName: "b", NewTag: "1.0", Digest: "sha256:x"}, {Name: "c"},
		}},
		{"flow list", "images: [{name: a, newTag: v1}, {name: 'b'}]\n", []Image{{Name: "a", NewTag: "v1"}, {Name: "b"}}},
		{"null field", "images:\n- name: a\n  newTag:\n  digest: ~\n", []Image{{Name: "a"}}},
		{"unknown keys ignored", "images:\n- name: a\n  tagSuffix: x\n  extra: {k: v}\n", []Image{{Name: "a"}}},
		{"aliases followed", "x: &n a\nimages:\n- name: *n\n  newTag: v1\n", []Image{{Name: "a", NewTag: "v1"}}},
		{"crlf", "images:\r\n- name: a\r\n  newTag: v1\r\n", []Image{{Name: "a", NewTag: "v1"}}},
		{"byte order mark", "\xef\xbb\xbfimages:\n- name: a\n", []Image{{Name: "a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadImages([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadImagesErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"list document", "- a\n- b\n", "line 1: document is a list; want a mapping"},
		{"scalar document", "hello\n", `line 1: document is a scalar ("hello"); want a mapping`},
		{"images is a mapping", "kind: Kustomization\nimages:\n  name: a\n", "line 3: images is a mapping; want a list"},
		{"images is a scalar", "images: a\n", `line 1: images is a scalar ("a"); want a list`},
		{"entry is a scalar", "images:\n- name: a\n- b\n", `line 3: images[1] is a scalar ("b"); want a mapping`},
		{"entry is a list", "images:\n- [a]\n", "line 2: images[0] is a list; want a mapping"},
		{"entry lacks name", "images:\n- newTag: v1\n", "line 2: images[0] has no name"},
		{"entry has empty name", "images:\n- name: \"\"\n", "line 2: images[0] has no name"},
		{"name is a list", "images:\n- name: [a]\n", "line 2: images[0].name is a list; want a string"},
		{"tag is a mapping", "images:\n- name: a\n  newTag:\n    x: y\n", "line 4: images[0].newTag is a mapping; want a string"},
		{"duplicate field", "images:\n- name: a\n  newTag: v1\n  newTag: v2\n", "line 4: images[0] has a duplicate key newTag"},
		{"duplicate images", "images: []\nimages: []\n", "line 2: duplicate key images (first at line 1)"},
		{"bad syntax", "images: [\n- name: a\n", "yaml: line"},
		{"tab indentation", "images:\n\t- name: a\n", "yaml: line 2"},
		{"two documents", "images: []\n---\nkind: X\n", "line 2: a second YAML document"},
		// The echoed value is cut between characters, never inside one.
		{"long scalar", "images: " + strings.Repeat("a", 50) + "\n", `images is a scalar ("` + strings.Repeat("a", 39) + `…")`},
		{"long multi-byte scalar", "images: " + strings.Repeat("日", 50) + "\n", `images is a scalar ("` + strings.Repeat("日", 39) + `…")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadImages([]byte(tc.doc))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			// SetImage refuses the same documents with the same reason.
			if _, _, err := SetImage([]byte(tc.doc), Image{Name: "a", NewTag: "v3"}); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetImage error %v does not contain %q", err, tc.want)
			}
		})
	}
}

// TestSetImageQuoting checks that a value which YAML 1.1 or 1.2 would read as
// something other than a string is quoted, and that others stay plain.
func TestSetImageQuoting(t *testing.T) {
	cases := []struct {
		tag, want string
	}{
		{"1.2.3", "1.2.3"},
		{"v1.0", "v1.0"},
		{"latest", "latest"},
		{"main-2024_01", "main-2024_01"},
		{"1.0", `"1.0"`},
		{"10", `"10"`},
		{"007", `"007"`},
		{"1e3", `"1e3"`},
		{"0x1F", `"0x1F"`},
		{"yes", `"yes"`},
		{"on", `"on"`},
		{"true", `"true"`},
		{"null", `"null"`},
		{"2024-01-02", `"2024-01-02"`},
		{"_x", "_x"},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			out, _, err := SetImage([]byte("images:\n- name: a\n  newTag: v0\n"), Image{Name: "a", NewTag: tc.tag})
			if err != nil {
				t.Fatal(err)
			}
			if want := "images:\n- name: a\n  newTag: " + tc.want + "\n"; string(out) != want {
				t.Errorf("got %q, want %q", out, want)
			}
			imgs, err := ReadImages(out)
			if err != nil || len(imgs) != 1 || imgs[0].NewTag != tc.tag {
				t.Errorf("ReadImages = %+v, %v", imgs, err)
			}
		})
	}
}
