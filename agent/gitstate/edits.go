package gitstate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/dnslabel"
)

// listFile is what an edit needs to know about one kind of file.
type listFile[T any] struct {
	kind, key string
	parse     func(data []byte) ([]T, *document, error)
	lines     func(T) []string
	equal     func(a, b T) bool
}

var (
	rejectionsFile = listFile[Rejection]{
		kind: rejectionsKind, key: rejectionsKey, lines: rejectionLines, equal: equalRejection,
		parse: func(data []byte) ([]Rejection, *document, error) {
			rs, doc, err := parseRejections(RejectionsFile, data)
			if err != nil {
				return nil, nil, err
			}
			return rs.Rejected, doc, nil
		},
	}
	freezesFile = listFile[Freeze]{
		kind: freezesKind, key: freezesKey, lines: freezeLines, equal: equalFreeze,
		parse: func(data []byte) ([]Freeze, *document, error) {
			fs, doc, err := parseFreezes(FreezesFile, data)
			if err != nil {
				return nil, nil, err
			}
			return fs.Freezes, doc, nil
		},
	}
)

// edit applies op to the lines of data and checks that the result reads
// back as want; when the document's shape does not allow a line edit, or
// the result does not read back, the whole file is written out again.
func (k listFile[T]) edit(data []byte, doc *document, op func(*layout), want []T) ([]byte, error) {
	if l, ok := newLayout(data, doc); ok {
		op(l)
		out := []byte(l.String())
		if got, _, err := k.parse(out); err == nil && slices.EqualFunc(got, want, k.equal) {
			return out, nil
		}
	}
	entries := make([][]string, len(want))
	for i, v := range want {
		entries[i] = k.lines(v)
	}
	out := []byte(renderDocument(k.kind, k.key, entries, "\n"))
	if got, _, err := k.parse(out); err != nil || !slices.EqualFunc(got, want, k.equal) {
		return nil, fmt.Errorf("write %s: the new file does not read back as written (%v)", k.kind, err)
	}
	return out, nil
}

// remove deletes every entry that match selects; false when there is none.
func (k listFile[T]) remove(data []byte, match func(T) bool) ([]byte, bool, error) {
	items, doc, err := k.parse(data)
	if err != nil {
		return nil, false, err
	}
	changed := false
	for {
		i := slices.IndexFunc(items, match)
		if i < 0 {
			return data, changed, nil
		}
		want := slices.Delete(slices.Clone(items), i, i+1)
		if data, err = k.edit(data, doc, func(l *layout) { l.remove(i) }, want); err != nil {
			return nil, false, err
		}
		changed = true
		if items, doc, err = k.parse(data); err != nil {
			return nil, false, err
		}
	}
}

// AddRejection records r in the rejections file data (creating the
// document when data has none) and returns the new file. Comments and the
// other entries are kept byte for byte. Adding a version that is already
// rejected (for every digest, or for r.Digest) returns data unchanged.
// r.At is written to the second, in UTC.
func AddRejection(data []byte, r Rejection) ([]byte, error) {
	r.At = r.At.Truncate(time.Second)
	var msgs []string
	checkRejection(r, func(field, format string, args ...any) {
		msgs = append(msgs, field+": "+fmt.Sprintf(format, args...))
	})
	if len(msgs) > 0 {
		return nil, fmt.Errorf("rejection of %s %s: %s", dnslabel.Quote(r.App), dnslabel.Quote(r.Version), strings.Join(msgs, "; "))
	}
	items, doc, err := rejectionsFile.parse(data)
	if err != nil {
		return nil, err
	}
	for _, e := range items {
		if e.App == r.App && e.Version == r.Version && (e.Digest == "" || e.Digest == r.Digest) {
			return data, nil
		}
	}
	op := func(l *layout) { l.appendEntry(rejectionsKind, rejectionsKey, rejectionLines(r)) }
	return rejectionsFile.edit(data, doc, op, append(items, r))
}

// RemoveRejection deletes every rejection of app at version (whatever its
// digest) with its comments, and reports whether there was one.
func RemoveRejection(data []byte, app, version string) ([]byte, bool, error) {
	return rejectionsFile.remove(data, func(r Rejection) bool { return r.App == app && r.Version == version })
}

// AddFreeze adds f to the freeze file data (creating the document when
// data has none) and returns the new file, keeping comments and the other
// entries. A freeze of the same name is replaced in place, keeping the
// comments above it; adding one equal to it returns data unchanged. Times
// are written to the second, in UTC.
func AddFreeze(data []byte, f Freeze) ([]byte, error) {
	f.From, f.Until = f.From.Truncate(time.Second), f.Until.Truncate(time.Second)
	if err := validFreeze(f); err != nil {
		return nil, err
	}
	items, doc, err := freezesFile.parse(data)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(items, func(e Freeze) bool { return e.Name == f.Name })
	if i < 0 {
		op := func(l *layout) { l.appendEntry(freezesKind, freezesKey, freezeLines(f)) }
		return freezesFile.edit(data, doc, op, append(items, f))
	}
	if equalFreeze(items[i], f) {
		return data, nil
	}
	want := slices.Clone(items)
	want[i] = f
	return freezesFile.edit(data, doc, func(l *layout) { l.replace(i, freezeLines(f)) }, want)
}

// RemoveFreeze deletes the freeze called name with its comments, and
// reports whether there was one.
func RemoveFreeze(data []byte, name string) ([]byte, bool, error) {
	return freezesFile.remove(data, func(f Freeze) bool { return f.Name == name })
}

// RemoveFreezesForAlert deletes every freeze waiting on the alert with
// this fingerprint (the alert resolved), and reports whether there was one.
func RemoveFreezesForAlert(data []byte, fingerprint string) ([]byte, bool, error) {
	if fingerprint == "" {
		return nil, false, fmt.Errorf("remove freezes for alert: empty fingerprint")
	}
	return freezesFile.remove(data, func(f Freeze) bool { return f.Alert == fingerprint })
}

func equalRejection(a, b Rejection) bool {
	return a.App == b.App && a.Version == b.Version && a.Digest == b.Digest && a.Env == b.Env &&
		a.Reason == b.Reason && a.At.Equal(b.At) && a.By == b.By
}

func equalFreeze(a, b Freeze) bool {
	return a.Name == b.Name && slices.Equal(a.Envs, b.Envs) && slices.Equal(a.Apps, b.Apps) &&
		a.Reason == b.Reason && a.From.Equal(b.From) && a.Until.Equal(b.Until) &&
		a.Schedule == b.Schedule && a.Duration == b.Duration && a.Timezone == b.Timezone &&
		a.Resolved == b.Resolved && a.Alert == b.Alert
}
