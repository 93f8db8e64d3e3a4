package trivy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/template"
)

// ErrTooLarge marks a response body over the caller's size cap.
var ErrTooLarge = errors.New("report too large")

// Fetch GETs url and returns its body, at most maxBytes long (a positive
// cap is required). A non-2xx status, or a body over the cap, is an error.
// Errors show the URL without credentials or query.
func Fetch(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) ([]byte, error) {
	shown := redact(rawURL)
	if maxBytes <= 0 {
		return nil, fmt.Errorf("fetch %s: size cap %d is not positive", shown, maxBytes)
	}
	if client == nil {
		client = http.DefaultClient
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
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		return nil, fmt.Errorf("fetch %s: status %s", shown, resp.Status)
	}
	if resp.ContentLength > maxBytes {
		return nil, fmt.Errorf("fetch %s: %w: %d bytes, over the %d-byte limit", shown, ErrTooLarge, resp.ContentLength, maxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: read body: %w", shown, err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("fetch %s: %w: over the %d-byte limit", shown, ErrTooLarge, maxBytes)
	}
	return data, nil
}

// redact drops user info and query, where tokens tend to live.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
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
		return "", fmt.Errorf("report URL template: result %s is not an absolute http(s) URL", redact(out))
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
