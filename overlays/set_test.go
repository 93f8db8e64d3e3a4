package overlays

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/setimage/*/expected.yaml")

const (
	checkout = "registry.example/shop/checkout"
	cart     = "registry.example/shop/cart"
	digestA  = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	digestB  = "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
)

// setImageCases are the golden cases under testdata/setimage/<name>. diff lists
// every line the edit removes (-) or adds (+): nothing else may change.
var setImageCases = []struct {
	name        string
	imgs        []Image
	wantChanged bool
	diff        []string
}{
	{"update-tag", []Image{{Name: checkout, NewTag: "1.2.3"}}, true, []string{
		"-  newTag: 0.0.0 # bumped by ferry",
		"+  newTag: 1.2.3 # bumped by ferry",
	}},
	{"add-digest", []Image{{Name: checkout, NewTag: "1.2.3", Digest: digestA}}, true, []string{
		"-  newTag: 1.2.2",
		"+  newTag: 1.2.3",
		"+  digest: " + digestA,
	}},
	{"remove-digest", []Image{{Name: checkout, NewTag: "1.2.2"}}, true, []string{
		"-  digest: sha256:1111111111111111111111111111111111111111111111111111111111111111 # pinned",
	}},
	{"add-missing-entry", []Image{{Name: cart, NewName: "127.0.0.1:5000/shop/cart", NewTag: "0.9.0", Digest: digestB}}, true, []string{
		"+- name: registry.example/shop/cart",
		"+  newName: 127.0.0.1:5000/shop/cart",
		"+  newTag: 0.9.0",
		"+  digest: " + digestB,
	}},
	{"create-images-list", []Image{{Name: checkout, NewName: "127.0.0.1:5000/shop/checkout", NewTag: "1.0.0"}}, true, []string{
		"+images:",
		"+  - name: registry.example/shop/checkout",
		"+    newName: 127.0.0.1:5000/shop/checkout",
		"+    newTag: 1.0.0",
	}},
	{"entry-comments", []Image{{Name: checkout, NewName: "127.0.0.1:5000/shop/checkout", NewTag: "1.2.3", Digest: digestA}}, true, []string{
		"-  newName: registry.example/shop/checkout # line comment on newName",
		"+  newName: 127.0.0.1:5000/shop/checkout # line comment on newName",
		"-  newTag: 0.0.0 # line comment on newTag",
		"+  newTag: 1.2.3 # line comment on newTag",
		"+  digest: " + digestA,
	}},
	{"flow-style-list", []Image{{Name: cart, NewTag: "1.0", Digest: digestB}, {Name: "registry.example/shop/search", NewTag: "2.0.0"}}, true, []string{
		`-images: [{name: registry.example/shop/checkout, newTag: 1.0.0}, {name: registry.example/shop/cart, newTag: "0.9"}] # flow`,
		`+images: [{name: registry.example/shop/checkout, newTag: 1.0.0}, {name: registry.example/shop/cart, newTag: "1.0", digest: "` + digestB + `"}, {name: registry.example/shop/search, newTag: 2.0.0}] # flow`,
	}},
	{"four-space-indent", []Image{{Name: checkout, NewTag: "1.0.0", Digest: digestA}, {Name: cart, NewTag: "0.9.0"}}, true, []string{
		"+        digest: " + digestA,
		"+    -   name: registry.example/shop/cart",
		"+        newTag: 0.9.0",
	}},
	{"noop", []Image{{Name: checkout, NewName: "127.0.0.1:5000/shop/checkout", NewTag: "1.2.3", Digest: "sha256:2222222222222222222222222222222222222222222222222222222222222222"}}, false, nil},
	{"quoted-values", []Image{{Name: checkout, NewTag: "1.2.3", Digest: digestA}, {Name: cart, NewTag: "2.0"}}, true, []string{
		`-  newTag: "1.2.2"`,
		`-  digest: 'sha256:3333333333333333333333333333333333333333333333333333333333333333'`,
		`+  newTag: "1.2.3"`,
		`+  digest: '` + digestA + `'`,
		`-  newTag: v1`,
		`+  newTag: "2.0"`,
	}},
	{"crlf", []Image{{Name: checkout, NewTag: "1.2.3", Digest: digestA}}, true, []string{
		"-  newTag: 1.0.0 # crlf\r",
		"+  newTag: 1.2.3 # crlf\r",
		"+  digest: " + digestA + "\r",
	}},
	{"null-images", []Image{{Name: checkout, NewTag: "1.0.0"}}, true, []string{
		"+  - name: registry.example/shop/checkout",
		"+    newTag: 1.0.0",
	}},
	{"empty-flow-images", []Image{{Name: checkout, NewTag: "1.0.0"}}, true, []string{
		"-images: [] # none yet",
		"+images: # none yet",
		"+- name: registry.example/shop/checkout",
		"+  newTag: 1.0.0",
	}},
	{"empty-document", []Image{{Name: checkout, NewTag: "1.0.0"}}, true, []string{
		"+images:",
		"+- name: registry.example/shop/checkout",
		"+  newTag: 1.0.0",
	}},
	{"no-final-newline", []Image{{Name: checkout, NewTag: "1.2.3", Digest: digestA}}, true, []string{
		"-  newTag: 1.0.0",
		"+  newTag: 1.2.3",
		"+  digest: " + digestA,
	}},
	{"key-on-dash-line", []Image{{Name: checkout, NewTag: "1.0.1"}}, true, []string{
		"-- digest: sha256:4444444444444444444444444444444444444444444444444444444444444444",
		"-  name: registry.example/shop/checkout",
		"-  newTag: 1.0.0",
		"+- name: registry.example/shop/checkout",
		"+  newTag: 1.0.1",
	}},
	{"duplicate-names", []Image{{Name: checkout, NewTag: "1.1.0"}}, true, []string{
		"-  newTag: 1.0.0",
		"+  newTag: 1.1.0",
		"-  newTag: 1.0.0",
		"+  newTag: 1.1.0",
	}},
	{"block-scalar-patch", []Image{{Name: checkout, NewTag: "1.0.0"}}, true, []string{
		"+images:",
		"+- name: registry.example/shop/checkout",
		"+  newTag: 1.0.0",
	}},
	{"flow-mapping-document", []Image{{Name: checkout, NewTag: "1.0.0"}}, true, []string{
		"-{apiVersion: kustomize.config.k8s.io/v1beta1, kind: Kustomization, resources: [../../base]}",
		"+{apiVersion: kustomize.config.k8s.io/v1beta1, kind: Kustomization, resources: [../../base], images: [{name: registry.example/shop/checkout, newTag: 1.0.0}]}",
	}},
}

func TestSetImageGolden(t *testing.T) {
	for _, tc := range setImageCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "setimage", tc.name)
			input, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got, changed := input, false
			for _, img := range tc.imgs {
				var c bool
				if got, c, err = SetImage(got, img); err != nil {
					t.Fatalf("SetImage(%+v): %v", img, err)
				}
				changed = changed || c
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			golden := filepath.Join(dir, "expected.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			if d := lineDiff(string(input), string(got)); strings.Join(d, "\n") != strings.Join(tc.diff, "\n") {
				t.Errorf("diff input -> output:\n%s\nwant:\n%s", strings.Join(d, "\n"), strings.Join(tc.diff, "\n"))
			}
			assertApplied(t, got, tc.imgs)
			// A second run of the same edits changes nothing.
			for _, img := range tc.imgs {
				again, c, err := SetImage(got, img)
				if err != nil || c || !bytes.Equal(again, got) {
					t.Errorf("SetImage again (%+v): changed=%v err=%v", img, c, err)
				}
			}
		})
	}
}

// assertApplied checks through ReadImages that every entry of each image holds the
// values SetImage was given.
func assertApplied(t *testing.T, data []byte, imgs []Image) {
	t.Helper()
	read, err := ReadImages(data)
	if err != nil {
		t.Fatalf("ReadImages after SetImage: %v\n%s", err, data)
	}
	for _, img := range imgs {
		found := false
		for _, r := range read {
			if r.Name != img.Name {
				continue
			}
			found = true
			if r.NewTag != img.NewTag || r.Digest != img.Digest || img.NewName != "" && r.NewName != img.NewName {
				t.Errorf("ReadImages entry %+v does not hold %+v", r, img)
			}
		}
		if !found {
			t.Errorf("ReadImages has no entry %s", img.Name)
		}
	}
}

// lineDiff lists the lines removed from a (-) and added in b (+), from a longest
// common subsequence of lines.
func lineDiff(a, b string) []string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, "-"+x[i])
			i++
		default:
			out = append(out, "+"+y[j])
			j++
		}
	}
	return out
}

func TestSetImageNoChangeReturnsInput(t *testing.T) {
	in := []byte("images:\n- name: a\n  newTag: \"1\"\n")
	out, changed, err := SetImage(in, Image{Name: "a", NewTag: "1"})
	if err != nil || changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if &out[0] != &in[0] {
		t.Error("unchanged SetImage returned a copy, want the input slice")
	}
}

func TestSetImageKeepsBOM(t *testing.T) {
	in := append([]byte("\xef\xbb\xbf"), "images:\n- name: a\n  newTag: x\n"...)
	out, changed, err := SetImage(in, Image{Name: "a", NewTag: "v2"})
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if want := "\xef\xbb\xbfimages:\n- name: a\n  newTag: v2\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestSetImageErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		img       Image
		wantIs    error
		want      string
	}{
		{"empty name", "", Image{NewTag: "1"}, nil, "image name is empty"},
		{"name with newline", "", Image{Name: "a\nb"}, nil, `image name "a\nb": contains '\n'`},
		{"bad newName", "", Image{Name: "a", NewName: "x y"}, nil, `newName "x y" of a: contains ' '`},
		{"bad tag", "", Image{Name: "a", NewTag: "1 2"}, nil, `newTag "1 2" of a: not a valid tag`},
		{"bad digest", "", Image{Name: "a", Digest: "sha256:xyz"}, nil, `digest "sha256:xyz" of a: not a valid digest`},
		{"anchored list", "images: &i\n- name: a\n", Image{Name: "a"}, ErrUnsupported, "line 1: images uses a YAML anchor or alias"},
		{"aliased value", "x: &t 1\nimages:\n- name: a\n  newTag: *t\n", Image{Name: "a", NewTag: "2"}, ErrUnsupported, "line 4: images[0].newTag uses a YAML anchor or alias"},
		{"not a mapping", "- a\n", Image{Name: "a"}, ErrInvalid, "line 1: document is a list; want a mapping"},
		{"lone carriage return", "images:\r- name: a\n", Image{Name: "a"}, ErrUnsupported, "a line break other than LF or CRLF at byte 7"},
		{"line separator", "kind: K # \u2028\n", Image{Name: "a"}, ErrUnsupported, "a line break other than LF or CRLF at byte 10"},
		{"utf-16", "\xfe\xff\x00i", Image{Name: "a"}, ErrUnsupported, "not UTF-8"},
		{"document end marker after comments", "kind: Kustomization\n# c\n... # end\n", Image{Name: "a"}, ErrUnsupported, "document end marker"},
		{"document end marker", "kind: Kustomization\n...\n", Image{Name: "a"}, ErrUnsupported, "document end marker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := SetImage([]byte(tc.doc), tc.img)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
