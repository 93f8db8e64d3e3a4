package jsonpos

import "testing"

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
