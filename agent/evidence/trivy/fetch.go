package trivy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
)

// Errors Fetch returns, for errors.Is.
var (
	// ErrNotFound is a report URL that answers 404 Not Found or 410 Gone:
	// the scan does not exist (yet), which is absent evidence, like a
	// missing referrer or file, not a failure of the source.
	ErrNotFound = errors.New("no Trivy report at that URL")
	// ErrTooLarge is a body over the caller's size cap (it is
	// httpx.ErrBodyTooLarge).
	ErrTooLarge = httpx.ErrBodyTooLarge
)

// DefaultTimeout bounds a Fetch whose context allows longer.
const DefaultTimeout = 30 * time.Second

// defaultClient has dial, TLS, header and overall deadlines, and keeps
// credentials (user info in the URL) from following a redirect to another
// origin.
var defaultClient = httpx.NewClient(nil, httpx.Timeouts{Request: DefaultTimeout})

// Fetch GETs url and returns its body, at most maxBytes long (a positive
// cap is required). 404 and 410 are ErrNotFound; any other non-2xx status,
// a body over the cap (ErrTooLarge) or a deadline is an error. A nil
// client, or http.DefaultClient (no deadlines, net/http's redirect
// policy), means ferry's own client. Errors show the URL with its user info
// and query values redacted.
func Fetch(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) ([]byte, error) {
	shown := httpx.RedactURL(rawURL)
	if maxBytes <= 0 {
		return nil, fmt.Errorf("fetch %s: size cap %d is not positive", shown, maxBytes)
	}
	if client == nil || client == http.DefaultClient {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: bad URL", shown)
	}
	req.Header.Set("Accept", "application/json, application/sarif+json;q=0.9, */*;q=0.1")
	resp, err := client.Do(req)
	if err != nil {
		// url.Error repeats the full URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetch %s: %w", shown, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		httpx.Drain(resp, 4<<10)
		return nil, fmt.Errorf("fetch %s: status %s: %w", shown, resp.Status, ErrNotFound)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		httpx.Drain(resp, 4<<10) // let the connection be reused
		return nil, fmt.Errorf("fetch %s: status %s", shown, resp.Status)
	}
	data, err := httpx.ReadResponse(resp, "trivy report "+shown, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", shown, err)
	}
	return data, nil
}

// URLVars are the values a report URL template may use.
type URLVars struct {
	App     string // ferry app name
	Image   string // repository, e.g. registry.example/shop/checkout
	Tag     string
	Digest  string // sha256:…
	Version string
}

// ExpandURL fills a text/template such as
// "https://scans.example/{{.Image}}/{{.Digest}}.json". Values are
// percent-encoded except for letters, digits, "-._~" and the "/" and ":" of
// repository paths and digests, so they are safe in a path or a query. The
// result must be an absolute http or https URL.
func ExpandURL(tmpl string, vars URLVars) (string, error) {
	t, err := template.New("url").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("report URL template: %w", err)
	}
	esc := URLVars{
		App:     escape(vars.App),
		Image:   escape(vars.Image),
		Tag:     escape(vars.Tag),
		Digest:  escape(vars.Digest),
		Version: escape(vars.Version),
	}
	var b strings.Builder
	if err := t.Execute(&b, esc); err != nil {
		return "", fmt.Errorf("report URL template: %w", err)
	}
	out := b.String()
	u, err := url.Parse(out)
	if err != nil {
		// url.Error repeats the URL, which may hold a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("report URL template: result is not a URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("report URL template: result %s is not an absolute http(s) URL", httpx.RedactURL(out))
	}
	return out, nil
}

func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/', c == ':':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
