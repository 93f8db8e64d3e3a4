package ledger

// Version is what an environment runs, or could run, of one app: the tag
// people read and the digest that pins it.
type Version struct {
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// IsZero reports an unknown version.
func (v Version) IsZero() bool { return v.Tag == "" && v.Digest == "" }

func (v Version) String() string {
	switch {
	case v.IsZero():
		return "(none)"
	case v.Digest == "":
		return v.Tag
	case v.Tag == "":
		return v.Digest
	}
	return v.Tag + "@" + ShortDigest(v.Digest)
}

// Same reports whether v and o are one version. For an app whose tags are
// immutable names (semver, regex), a tag written without a digest (a
// person's pin) is the same version as that tag with the digest ferry
// resolves: copying an overlay that says `newTag: 1.0.0` must not look like
// a new release. For an app that follows a moving tag (moving), the digest
// is the identity, so a missing digest is never the same.
func (v Version) Same(o Version, moving bool) bool {
	if v == o {
		return true
	}
	if moving || v.Tag != o.Tag || v.Tag == "" {
		return false
	}
	return v.Digest == "" || o.Digest == ""
}

// ShortDigest keeps "sha256:" and 12 hex digits, for messages and logs.
func ShortDigest(d string) string {
	const keep = len("sha256:") + 12
	if len(d) > keep {
		return d[:keep]
	}
	return d
}

// ShortHash keeps 12 hex digits of a commit hash.
func ShortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
