package notify

import (
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

func mustAddr(t testing.TB, s string) []*mail.Address {
	t.Helper()
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return []*mail.Address{a}
}

func TestEncodeWords(t *testing.T) {
	tests := []struct {
		in      string
		encoded bool
	}{
		{"plain ascii", false},
		{"déployé", true},
		{"looks =?utf-8?q?encoded?= but is not", true},
		{strings.Repeat("日本", 80), true},
		{"", false},
	}
	for _, tt := range tests {
		got := encodeWords(tt.in)
		if (got != tt.in) != tt.encoded {
			t.Errorf("encodeWords(%q) = %q, encoded %v", tt.in, got, got != tt.in)
		}
		for _, w := range strings.Fields(got) {
			if tt.encoded && len(w) > 75 {
				t.Errorf("encoded word of %d characters: %q", len(w), w)
			}
		}
		dec, err := new(mime.WordDecoder).DecodeHeader(got)
		if err != nil || dec != tt.in {
			t.Errorf("decode(%q) = %q, %v; want %q", got, dec, err, tt.in)
		}
	}
}

func TestBuildMessageFolds(t *testing.T) {
	from := mustAddr(t, "ferry@example.com")[0]
	var to []*mail.Address
	for range 20 {
		to = append(to, mustAddr(t, "Some Long Recipient Name <someone.with.a.long.address@example.com>")...)
	}
	subject := strings.Repeat("word ", 39) + "end"
	msg, err := buildMessage(from, to, Promotion, subject, "body\n", time.Unix(0, 0), "<x@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if len(line) > maxLine {
			t.Errorf("header line of %d characters: %q", len(line), line)
		}
	}
	m := parseMessage(t, msg)
	if m.subject != subject {
		t.Errorf("subject %q, want %q", m.subject, subject)
	}
	if got, err := m.header.AddressList("To"); err != nil || len(got) != 20 {
		t.Errorf("To: %d addresses, %v", len(got), err)
	}
}
