package sonar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const testToken = "squ_4f1d0c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"

func TestQualityGate(t *testing.T) {
	tests := []struct {
		name, project, revision string
		golden                  string   // testdata/golden/<golden>.json
		pages                   []string // analysis pages the client must read, in order
	}{
		{name: "revision on page 2", project: "checkout", revision: "6f1c2a9e0b7d4c3a8e5f1b2d9c0a7e6f4b3d2c1a",
			golden: "checkout-page2", pages: []string{"1", "2"}},
		{name: "short sha on page 2", project: "checkout", revision: "6f1c2a9",
			golden: "checkout-page2", pages: []string{"1", "2"}},
		{name: "short sha in upper case", project: "checkout", revision: "6F1C2A9E0B",
			golden: "checkout-page2", pages: []string{"1", "2"}},
		{name: "newest revision stops at page 1", project: "checkout", revision: "87b53f9c29fa0e5285c675debadd86d806a719cf",
			golden: "checkout-newest", pages: []string{"1"}},
		{name: "failed gate", project: "payments", revision: "c0ffee4d2a5b",
			golden: "payments-error", pages: []string{"1"}},
		{name: "warn gate (SonarQube < 7.6)", project: "legacy", revision: "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
			golden: "legacy-warn", pages: []string{"1"}},
		{name: "latest analysis without revision", project: "checkout", golden: "checkout-latest"},
		{name: "no gate", project: "fresh", golden: "fresh-none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, srv := newRecorded(t, testToken)
			c, err := New(srv.URL, testToken, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			g, err := c.QualityGate(t.Context(), tt.project, tt.revision)
			if err != nil {
				t.Fatalf("QualityGate: %v", err)
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tt.golden+".json"), append(got, '\n'))

			var pages []string
			for _, r := range rec.seen() {
				if u, err := url.Parse(r); err == nil && u.Path == searchPath {
					pages = append(pages, u.Query().Get("p"))
				}
			}
			if !slices.Equal(pages, tt.pages) {
				t.Errorf("read analysis pages %v, want %v", pages, tt.pages)
			}
		})
	}
}

func TestQualityGateErrors(t *testing.T) {
	tests := []struct {
		name, project, revision, token string
		timeout                        time.Duration
		is                             error    // errors.Is target, if any
		code                           int      // HTTPError code, if any
		contains                       []string // substrings of the message
	}{
		{name: "unknown revision", project: "checkout", revision: "deadbeefcafe",
			is: ErrNoAnalysis, contains: []string{`"checkout"`, `"deadbeefcafe"`}},
		{name: "project without analyses", project: "fresh", revision: "0a1b2c3d",
			is: ErrNoAnalysis, contains: []string{`"fresh"`}},
		{name: "short revision matches exactly only", project: "legacy", revision: "0a1b2c",
			is: ErrNoAnalysis, contains: []string{`"0a1b2c"`}},
		{name: "unknown project", project: "ghost", revision: "0a1b2c3d",
			is: ErrNotFound, code: 404, contains: []string{"Project 'ghost' not found"}},
		{name: "unknown project without revision", project: "ghost",
			is: ErrNotFound, code: 404, contains: []string{"Project 'ghost' not found"}},
		{name: "bad token", project: "checkout", token: "squ_wrong",
			is: ErrUnauthorized, code: 401, contains: []string{"401 Unauthorized"}},
		{name: "no token", project: "checkout", token: "-",
			is: ErrUnauthorized, code: 401},
		{name: "forbidden", project: "forbidden", revision: "0a1b2c3d",
			is: ErrUnauthorized, code: 403, contains: []string{"Insufficient privileges"}},
		{name: "server error", project: "broken", revision: "0a1b2c3d",
			code: 500, contains: []string{"500 Internal Server Error", "contact your administrator"}},
		{name: "slow server", project: "slow", timeout: 50 * time.Millisecond,
			is: context.DeadlineExceeded},
		{name: "oversized body", project: "huge", is: ErrBodyTooLarge, contains: []string{"/api/qualitygates/project_status: body exceeds 1 MiB"}},
		{name: "malformed JSON", project: "garbled",
			contains: []string{"line 10, column 9: invalid character"}},
		{name: "unknown status", project: "oddstatus", contains: []string{`unknown quality gate status "GREEN"`}},
		{name: "no projectStatus", project: "nostatus", contains: []string{"no projectStatus object"}},
		{name: "empty project key", contains: []string{"empty project key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := newRecorded(t, testToken)
			token := testToken
			switch tt.token {
			case "":
			case "-":
				token = ""
			default:
				token = tt.token
			}
			c, err := New(srv.URL, token, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			g, err := c.QualityGate(ctx, tt.project, tt.revision)
			if err == nil {
				t.Fatalf("QualityGate = %+v, want an error", g)
			}
			msg := err.Error()
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", msg, tt.is)
			}
			var he *HTTPError
			switch {
			case tt.code != 0 && !errors.As(err, &he):
				t.Errorf("error %q is not an *HTTPError", msg)
			case tt.code != 0 && he.Code != tt.code:
				t.Errorf("HTTPError.Code = %d, want %d", he.Code, tt.code)
			case tt.code == 0 && errors.As(err, &he):
				t.Errorf("unexpected HTTPError %q", msg)
			}
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if strings.Contains(msg, testToken) || tt.token != "" && tt.token != "-" && strings.Contains(msg, tt.token) {
				t.Errorf("error %q leaks the token", msg)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, base, token, wantErr string
	}{
		{name: "plain", base: "http://127.0.0.1:9000"},
		{name: "path prefix and slash", base: "https://ci.example/sonarqube/"},
		{name: "anonymous", base: "https://sonar.example"},
		{name: "credentials in URL", base: "https://admin:s3cret@sonar.example", wantErr: "carries credentials"},
		{name: "token as user", base: "https://squ_abc@sonar.example", wantErr: "carries credentials"},
		{name: "bad scheme", base: "ftp://sonar.example", wantErr: "scheme must be http or https"},
		{name: "no host", base: "http:///api", wantErr: "has no host"},
		{name: "relative", base: "sonar.example", wantErr: "scheme must be http or https"},
		{name: "query", base: "https://sonar.example/?x=1", wantErr: "must not have a query"},
		{name: "unparsable with password", base: "http://u:p%zz@host", wantErr: "does not parse"},
		{name: "token with newline", base: "https://sonar.example", token: "squ_a\nX-Evil: 1", wantErr: "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.base, tt.token, nil)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New(%q) = %v, %v", tt.base, c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New(%q) succeeded, want error containing %q", tt.base, tt.wantErr)
			}
			for _, secret := range []string{"s3cret", "squ_abc", "p%zz", "X-Evil"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks %q", err, secret)
				}
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// A base URL with a path prefix (SonarQube behind a reverse proxy) keeps it.
func TestPathPrefix(t *testing.T) {
	rec, srv := newRecorded(t, testToken)
	proxy := http.NewServeMux()
	proxy.Handle("/sonarqube/", http.StripPrefix("/sonarqube", rec))
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	_ = srv

	c, err := New(front.URL+"/sonarqube/", testToken, front.Client())
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.QualityGate(t.Context(), "payments", "c0ffee4d")
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != StatusError || g.AnalysisID != "AZda04c8e887ecdb5bb7" {
		t.Errorf("gate = %+v, want ERROR of analysis AZda04c8e887ecdb5bb7", g)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
