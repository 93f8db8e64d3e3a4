package ledger

import (
	"errors"
	"fmt"
	"strings"
)

// Message is a commit message: a one-line subject, an optional body and
// trailers in `git interpret-trailers` format (docs/design.md "Commits").
type Message struct {
	Subject  string
	Body     string
	Trailers []Trailer
}

// Trailer is one "Key: Value" line of a message's last paragraph.
type Trailer struct{ Key, Value string }

// String renders the message as git stores it: the subject, a blank line,
// the body if any, a blank line and one "Key: Value" line per trailer.
func (m Message) String() string {
	var b strings.Builder
	b.WriteString(m.Subject)
	b.WriteByte('\n')
	if body := strings.Trim(m.Body, "\n"); body != "" {
		b.WriteByte('\n')
		b.WriteString(body)
		b.WriteByte('\n')
	}
	if len(m.Trailers) > 0 {
		b.WriteByte('\n')
		for _, t := range m.Trailers {
			b.WriteString(t.Key)
			b.WriteString(": ")
			b.WriteString(t.Value)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// Validate reports what would keep String from round-tripping through git:
// an empty or multi-line subject, a trailer key that is not a git token
// (letters, digits and '-') or a trailer value with a line break.
func (m Message) Validate() error {
	var errs []error
	if strings.TrimSpace(m.Subject) == "" {
		errs = append(errs, errors.New("subject is empty"))
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		errs = append(errs, fmt.Errorf("subject %q has a line break", m.Subject))
	}
	for i, t := range m.Trailers {
		if !isToken(t.Key) {
			errs = append(errs, fmt.Errorf("trailer %d: key %q is not a token (letters, digits, '-')", i+1, t.Key))
		}
		if strings.ContainsAny(t.Value, "\r\n") {
			errs = append(errs, fmt.Errorf("trailer %d (%s): value has a line break", i+1, t.Key))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("commit message: %w", errors.Join(errs...))
	}
	return nil
}

// Trailer returns the value of the last trailer named key (compared without
// regard to case, as git does), or "".
func (m Message) Trailer(key string) string {
	for i := len(m.Trailers) - 1; i >= 0; i-- {
		if strings.EqualFold(m.Trailers[i].Key, key) {
			return m.Trailers[i].Value
		}
	}
	return ""
}

// TrailerValues returns the values of all trailers named key, in order.
func (m Message) TrailerValues(key string) []string {
	var out []string
	for _, t := range m.Trailers {
		if strings.EqualFold(t.Key, key) {
			out = append(out, t.Value)
		}
	}
	return out
}

// ParseMessage splits a commit message into subject, body and trailers. The
// subject is the first paragraph (its lines joined by spaces, as git's %s
// does). The trailers are the last paragraph after the subject when every
// line of it is a "Key: value" trailer (key a git token, optional blanks
// before the colon) or a continuation line starting with a blank, which is
// folded into the value above with one space. Everything in between is the
// body. Messages from humans that break these rules simply have no trailers.
func ParseMessage(s string) Message {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	// A lone CR is no line break to git, but it is one to a terminal and to
	// Validate: read as a space, so that no value parsed here renders a
	// message with a line break in its subject or a trailer.
	s = strings.ReplaceAll(s, "\r", " ")
	paras := paragraphs(s)
	if len(paras) == 0 {
		return Message{}
	}
	subject := make([]string, len(paras[0]))
	for i, line := range paras[0] {
		subject[i] = strings.Trim(line, blanks)
	}
	m := Message{Subject: strings.Join(subject, " ")}
	rest := paras[1:]
	if len(rest) > 0 {
		if ts, ok := parseTrailers(rest[len(rest)-1]); ok {
			m.Trailers = ts
			rest = rest[:len(rest)-1]
		}
	}
	blocks := make([]string, len(rest))
	for i, p := range rest {
		blocks[i] = strings.Join(p, "\n")
	}
	m.Body = strings.Join(blocks, "\n\n")
	return m
}

// blanks are the characters C's isspace knows besides the newline; git
// trims them.
const blanks = " \t\r\v\f"

// paragraphs splits s at blank lines (lines of only whitespace), dropping
// trailing whitespace on every line as git's cleanup does.
func paragraphs(s string) [][]string {
	var out [][]string
	var cur []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, blanks)
		if line == "" {
			if cur != nil {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

func parseTrailers(lines []string) ([]Trailer, bool) {
	var out []Trailer
	for _, line := range lines {
		if strings.IndexByte(blanks, line[0]) >= 0 {
			if len(out) == 0 {
				return nil, false
			}
			last := &out[len(out)-1]
			last.Value = strings.Trim(last.Value+" "+strings.Trim(line, blanks), blanks)
			continue
		}
		key, value, ok := splitTrailer(line)
		if !ok {
			return nil, false
		}
		out = append(out, Trailer{Key: key, Value: value})
	}
	return out, true
}

// splitTrailer follows git's find_separator: a token of letters, digits and
// '-', optional blanks, then ':'.
func splitTrailer(line string) (key, value string, ok bool) {
	i := strings.IndexByte(line, ':')
	if i <= 0 {
		return "", "", false
	}
	key = strings.TrimRight(line[:i], blanks)
	if !isToken(key) {
		return "", "", false
	}
	return key, strings.Trim(line[i+1:], blanks), true
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
