package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// maxLine is where header lines are folded (RFC 5322 2.1.1 recommends 78).
const maxLine = 78

// buildMessage writes an RFC 5322 message: headers, then the body as
// quoted-printable UTF-8 text. The subject must already be one line;
// nothing from an event reaches a header other than through oneLine and
// RFC 2047 encoding, so an event cannot add or end a header.
func buildMessage(from *mail.Address, to []*mail.Address, kind Kind, subject, body string, date time.Time, msgID string) ([]byte, error) {
	var b bytes.Buffer
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	header := func(name, value string) {
		b.WriteString(fold(name+": "+value, maxLine))
		b.WriteString("\r\n")
	}
	header("From", from.String())
	header("To", strings.Join(rcpts, ", "))
	header("Subject", encodeWords(oneLine(subject, maxSubject)))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	// RFC 3834: tells auto-responders not to answer.
	header("Auto-Submitted", "auto-generated")
	header("X-Ferry-Event", encodeWords(oneLine(string(kind), 64)))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	// Line ends are made LF only, which the writer turns into CRLF: it
	// mishandles a lone CR followed later by an LF.
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

// encodeWords returns s as it is when it is printable ASCII, else as RFC
// 2047 Q-encoded words. Text that merely looks like an encoded word
// ("=?...?=") is encoded too, so a reader decodes exactly s.
func encodeWords(s string) string {
	plain := !strings.Contains(s, "=?")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= ' ' && s[i] <= '~'
	}
	if plain {
		return s
	}
	const hexdigits = "0123456789ABCDEF"
	const max = 75 - len("=?utf-8?q??=") // RFC 2047: an encoded word is at most 75 characters
	var words []string
	var w []byte
	for _, r := range s {
		var enc []byte
		for _, c := range []byte(string(r)) {
			switch {
			case c == ' ':
				enc = append(enc, '_')
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
				c == '!', c == '*', c == '+', c == '-', c == '/':
				enc = append(enc, c)
			default:
				enc = append(enc, '=', hexdigits[c>>4], hexdigits[c&15])
			}
		}
		// A word ends between characters, never inside one's bytes.
		if len(w)+len(enc) > max {
			words = append(words, "=?utf-8?q?"+string(w)+"?=")
			w = w[:0]
		}
		w = append(w, enc...)
	}
	words = append(words, "=?utf-8?q?"+string(w)+"?=")
	return strings.Join(words, " ")
}

// fold breaks a header line at spaces so lines stay near max; the space
// stays as the continuation's leading white space, so unfolding restores
// the value.
func fold(line string, max int) string {
	if len(line) <= max {
		return line
	}
	var b strings.Builder
	n := 0
	for i, w := range strings.Split(line, " ") {
		if i > 0 {
			if n+1+len(w) > max {
				b.WriteString("\r\n")
				n = 0
			}
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// newMessageID returns a unique Message-ID in the domain of from.
func newMessageID(from *mail.Address, now time.Time) (string, error) {
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	domain := "ferry.invalid"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 && i < len(from.Address)-1 {
		domain = from.Address[i+1:]
	}
	return fmt.Sprintf("<%d.%s@%s>", now.UnixNano(), hex.EncodeToString(r[:]), domain), nil
}
