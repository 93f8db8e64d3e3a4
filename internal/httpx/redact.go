package httpx

import (
	"errors"
	"net/url"
	"strings"
)

// Redacted replaces a secret in a shown URL.
const Redacted = "REDACTED"

// RedactURL returns raw fit for an error or a log: the user info (which may
// be a token as much as a password) becomes REDACTED, every query value
// becomes REDACTED (tokens and signatures live there: ?access_token=,
// ?X-Amz-Signature=) while the keys stay to say which URL it was, and the
// fragment goes. A string that does not parse as a URL (a git scp-like
// address with a password, say) keeps only what surely holds no secret:
// the scheme and what follows the user info; anything else is not shown.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsable(raw)
	}
	return redacted(u)
}

// redactUnparsable hides whatever sits between "://" and the last "@" of
// the authority, and drops a query.
func redactUnparsable(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !validScheme(scheme) || strings.ContainsAny(rest, " \t\r\n") {
		return "<unparsable URL>"
	}
	rest, _, _ = strings.Cut(rest, "?")
	rest, _, _ = strings.Cut(rest, "#")
	auth, tail, hasPath := strings.Cut(rest, "/")
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		auth = Redacted + auth[at:]
	}
	if hasPath {
		return scheme + "://" + auth + "/" + tail
	}
	return scheme + "://" + auth
}

func redacted(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(Redacted)
	}
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	c.Fragment, c.RawFragment = "", ""
	// url.User escapes nothing in "REDACTED"; String adds the "@".
	return c.String()
}

// redactQuery keeps each key, in the order given, and hides each value.
// Keys that do not decode are dropped with their values.
func redactQuery(q string) string {
	var keys []string
	seen := map[string]bool{}
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		k, _, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil || seen[key] {
			continue
		}
		seen[key] = true
		keys = append(keys, key)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, url.QueryEscape(k)+"="+Redacted)
	}
	return strings.Join(out, "&")
}

// Origin is scheme://host[:port] of raw, for sources whose path is itself a
// secret (Slack and other incoming-webhook URLs).
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparsable URL>"
	}
	return u.Scheme + "://" + u.Host
}

// RedactError rewrites the URL that net/http puts in a *url.Error (from
// http.Client.Do) with show, keeping the operation, the cause and
// errors.Is/As on both. A nil show means RedactURL. Other errors are
// returned as they are.
func RedactError(err error, show func(string) string) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	if show == nil {
		show = RedactURL
	}
	return &url.Error{Op: ue.Op, URL: show(ue.URL), Err: ue.Err}
}

// validScheme is RFC 3986's scheme: a letter, then letters, digits, '+', '-', '.'.
func validScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}
