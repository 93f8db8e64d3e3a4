package yamlerr

import (
	"errors"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Source: "ferry.yaml", Line: 3, Column: 7, Path: "git.url", Message: "git.url: required"}, "ferry.yaml:3:7: git.url: required"},
		{Error{Source: "ferry.yaml", Message: "empty document"}, "ferry.yaml: empty document"},
		{Error{Line: 2, Column: 1, Message: "bad"}, "2:1: bad"},
		{Error{Message: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// TestPrepare: positions goccy gives after Prepare are the ones an editor
// shows, whatever the line endings; bytes that are not UTF-8 are located.
func TestPrepare(t *testing.T) {
	lf := "# comment\nkey: [\n"
	for _, tt := range []struct{ name, data string }{
		{"LF", lf},
		{"CRLF", strings.ReplaceAll(lf, "\n", "\r\n")},
		{"BOM and CRLF", "\xef\xbb\xbf" + strings.ReplaceAll(lf, "\n", "\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Prepare("f.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			_, err = parser.ParseBytes(data, 0)
			if err == nil {
				t.Fatal("no parse error")
			}
			e := FromParser("f.yaml", err)
			if e.Line != 2 || !strings.HasPrefix(e.Error(), "f.yaml:2:") {
				t.Errorf("error %q at line %d, want line 2", e, e.Line)
			}
			var ye yaml.Error
			if !errors.As(e, &ye) {
				t.Errorf("goccy's error is not in the chain")
			}
			if strings.Contains(e.Error(), "\n") {
				t.Errorf("error spans lines: %q", e)
			}
		})
	}
	_, err := Prepare("f.yaml", []byte("a: 1\nb: caf\xe9\n"))
	if err == nil || err.Error() != "f.yaml:2:7: not valid UTF-8" {
		t.Errorf("Prepare(Latin-1) = %v, want f.yaml:2:7: not valid UTF-8", err)
	}
}

func TestListOrder(t *testing.T) {
	l := List{Source: "f.yaml"}
	l.Add(0, 0, "", "unlocated")
	l.Add(5, 2, "b", "second")
	l.Add(2, 9, "a", "first")
	l.Add(5, 1, "", "between")
	if l.Len() != 4 {
		t.Errorf("Len = %d, want 4", l.Len())
	}
	want := "f.yaml:2:9: a: first\nf.yaml:5:1: between\nf.yaml:5:2: b: second\nf.yaml: unlocated"
	if got := l.Err().Error(); got != want {
		t.Errorf("Err() =\n%s\nwant\n%s", got, want)
	}
	if (&List{}).Err() != nil {
		t.Error("an empty List has an error")
	}
}
