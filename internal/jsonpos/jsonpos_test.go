package jsonpos

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.golden")

func TestPosition(t *testing.T) {
	data := []byte("{\n  \"a\": 1,\n  \"é\": x\n}")
	for _, tc := range []struct {
		offset    int64
		line, col int
	}{
		{0, 1, 1},
		{1, 1, 1},
		{2, 1, 2},
		{3, 2, 1},
		{int64(len("{\n  \"a\": 1,\n  \"é\": x")), 3, 8},
		{-5, 1, 1},
		{1 << 20, 4, 1}, // clamped to the end: the last byte, "}"
	} {
		if l, c := Position(data, tc.offset); l != tc.line || c != tc.col {
			t.Errorf("Position(%d) = %d:%d, want %d:%d", tc.offset, l, c, tc.line, tc.col)
		}
	}
}

func TestAt(t *testing.T) {
	data := []byte("aé日🚀\nx\xffy")
	for _, tc := range []struct {
		offset    int64
		line, col int
	}{
		{0, 1, 1},  // a
		{1, 1, 2},  // é, first byte
		{2, 1, 2},  // é, second byte: still é's column
		{3, 1, 3},  // 日
		{5, 1, 3},  // 日, last byte
		{6, 1, 4},  // 🚀
		{9, 1, 4},  // 🚀, last byte
		{10, 1, 5}, // the newline ends line 1
		{11, 2, 1}, // x
		{12, 2, 2}, // an invalid byte is a column of its own
		{13, 2, 3}, // y
		{99, 2, 4}, // past the end
	} {
		if l, c := At(data, tc.offset); l != tc.line || c != tc.col {
			t.Errorf("At(%d) = %d:%d, want %d:%d", tc.offset, l, c, tc.line, tc.col)
		}
	}
}

// target has one field of each JSON kind the golden inputs get wrong.
type target struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Size  uint     `json:"size"`
	Ratio float64  `json:"ratio"`
	Tags  []string `json:"tags"`
	Meta  struct {
		Owner string `json:"owner"`
	} `json:"meta"`
}

// TestGolden decodes each testdata/golden/*.json, most with multi-byte
// characters before the fault, and compares Locate's message with its
// .golden file (go test -update rewrites them).
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var v target
			err = json.NewDecoder(bytes.NewReader(data)).Decode(&v)
			if err == nil {
				t.Fatal("the input decodes; a golden input must be wrong somewhere")
			}
			located := Locate(data, err)
			var e *Error
			if !errors.As(located, &e) || !errors.Is(located, err) {
				t.Fatalf("Locate(%v) = %v: want an *Error wrapping it", err, located)
			}
			got := located.Error() + "\n"
			golden := strings.TrimSuffix(in, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("Locate = %q\nwant      %q", got, want)
			}
		})
	}
}

func TestLocatePassesOthers(t *testing.T) {
	other := errors.New("SchemaVersion is 3")
	if Locate(nil, other) != other || Locate(nil, nil) != nil {
		t.Error("errors that are not encoding/json's should come back unchanged")
	}
}

// FuzzAt checks At against a plain count on valid UTF-8: the line is one
// more than the newlines before the offset, the column one more than the
// runes since the last of them.
func FuzzAt(f *testing.F) {
	for _, s := range []string{"", "a", "é\n日本🚀", "{\n\"k\": \"e\u0301\"}\n", "\xff\xfe\n\xc3"} {
		f.Add([]byte(s), int64(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, offset int64) {
		line, col := At(data, offset)
		if line < 1 || col < 1 {
			t.Fatalf("At(%q, %d) = %d:%d", data, offset, line, col)
		}
		if !utf8.Valid(data) {
			return
		}
		off := int(max(0, min(offset, int64(len(data)))))
		for off > 0 && off < len(data) && !utf8.RuneStart(data[off]) {
			off--
		}
		before := string(data[:off])
		wantLine := 1 + strings.Count(before, "\n")
		wantCol := 1 + utf8.RuneCountInString(before[strings.LastIndex(before, "\n")+1:])
		if line != wantLine || col != wantCol {
			t.Fatalf("At(%q, %d) = %d:%d, want %d:%d", data, offset, line, col, wantLine, wantCol)
		}
	})
}

// ExampleLocate shows the message a parser of outside JSON returns.
func ExampleLocate() {
	data := []byte("{\n  \"name\": \"Zoë\", \"count\": \"três\"\n}")
	var v struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	err := json.Unmarshal(data, &v)
	fmt.Println(Locate(data, err))
	// Output: line 2, column 27: count: got string, want integer
}
