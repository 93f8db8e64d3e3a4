// Package sonar reads SonarQube quality gates through its Web API, as
// promotion evidence for one project and revision.
package sonar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/httpx"
	"github.com/ferry-dev/ferry/internal/jsonpos"
)

// MaxBodyBytes caps every response body: a quality gate is a few KiB, a
// page of 100 analyses some 30 KiB; anything larger is not the API we
// expect.
const MaxBodyBytes = 1 << 20

// DefaultTimeout backstops callers that pass a context without a deadline.
const DefaultTimeout = 30 * time.Second

var (
	// ErrNoAnalysis means SonarQube has no analysis of the asked revision:
	// the evidence is absent and a policy that needs it fails closed.
	ErrNoAnalysis = errors.New("no SonarQube analysis")
	// ErrUnauthorized means SonarQube refused the token (HTTP 401 or 403).
	ErrUnauthorized = errors.New("SonarQube refused the credentials (check the token and its Browse permission)")
	// ErrNotFound means SonarQube does not know the project or analysis (HTTP 404).
	ErrNotFound = errors.New("not found in SonarQube")
	// ErrBodyTooLarge means a response exceeded MaxBodyBytes (it is
	// httpx.ErrBodyTooLarge).
	ErrBodyTooLarge = httpx.ErrBodyTooLarge
)

// HTTPError is a non-2xx answer. It unwraps to ErrUnauthorized for 401 and
// 403 and to ErrNotFound for 404, so errors.Is works on both.
type HTTPError struct {
	Endpoint string // path and query, never the token
	Code     int
	Message  string // SonarQube's own "errors[].msg", if it sent any
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("GET %s: %d %s", e.Endpoint, e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if sentinel := e.Unwrap(); sentinel != nil {
		s += ": " + sentinel.Error()
	}
	return s
}

func (e *HTTPError) Unwrap() error {
	switch e.Code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	}
	return nil
}

// Client reads one SonarQube server. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the SonarQube at baseURL (http or https, may
// carry a path prefix such as https://ci.example/sonarqube). The token is
// sent as "Authorization: Bearer <token>" (SonarQube 10+); an empty token
// reads anonymously. A nil httpClient gets httpx's: dial, TLS and header
// deadlines, a 30 s backstop for the whole request, and no token on a
// redirect to another origin. Callers bound each call with their context.
func New(baseURL, token string, httpClient *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// url.Error quotes the input; a URL with a password must not leak.
		return nil, errors.New("sonar: base URL does not parse")
	}
	switch {
	case u.User != nil:
		// Name only scheme and host: the user part may itself be a token.
		return nil, fmt.Errorf("sonar: base URL %s://%s carries credentials; give the token separately", u.Scheme, u.Host)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("sonar: base URL %q: scheme must be http or https", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("sonar: base URL %q has no host", baseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("sonar: base URL %q must not have a query or fragment", baseURL)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errors.New("sonar: token contains whitespace or a control character")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if httpClient == nil {
		httpClient = httpx.NewClient(nil, httpx.Timeouts{Request: DefaultTimeout})
	}
	return &Client{base: u, token: token, http: httpClient}, nil
}

// get fetches endpoint (e.g. "/api/qualitygates/project_status") with query
// and returns the body, at most MaxBodyBytes.
func (c *Client) get(ctx context.Context, endpoint string, query url.Values) ([]byte, error) {
	u := *c.base
	u.Path += endpoint
	u.RawQuery = query.Encode()
	shown := endpoint + "?" + u.RawQuery

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error names the URL, which holds no secret (the token is a header).
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	defer resp.Body.Close()

	body, err := httpx.ReadAll(resp.Body, "sonarqube "+c.base.Host+" "+endpoint, MaxBodyBytes)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Endpoint: shown, Code: resp.StatusCode, Message: apiMessage(body)}
	}
	return body, nil
}

// apiMessage extracts SonarQube's error messages ({"errors":[{"msg":...}]}),
// shortened so a stray HTML page cannot flood an error.
func apiMessage(body []byte) string {
	var e struct {
		Errors []struct {
			Msg string `json:"msg"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	msgs := make([]string, 0, len(e.Errors))
	for _, m := range e.Errors {
		if m.Msg != "" {
			msgs = append(msgs, m.Msg)
		}
	}
	s := strings.Join(msgs, "; ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// decode unmarshals an API body, naming the line and column (in
// characters) of a syntax or type error so a bad recording or proxy page
// is easy to find.
func decode(what string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("parse %s: %w", what, jsonpos.Locate(body, err))
	}
	return nil
}
