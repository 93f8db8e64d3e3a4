package pullrequest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// exchange is one request a forge is documented to receive and the response
// it gives, recorded under testdata/.
type exchange struct {
	method string
	path   string            // escaped path, as sent on the wire
	query  map[string]string // exact query; nil means none
	body   map[string]any    // exact JSON request body; nil means none
	status int
	file   string            // response body, relative to testdata/
	header map[string]string // response headers; "{{url}}" becomes the server's URL
}

// replay serves script in order, checking every request against it and the
// auth header against authName: authValue. Unexpected requests fail the test
// and get a 418, which no SDK retries.
func replay(t *testing.T, authName, authValue string, script []exchange) *httptest.Server {
	t.Helper()
	var (
		mu   sync.Mutex
		next int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got := r.Method + " " + r.URL.EscapedPath() + "?" + r.URL.RawQuery
		if next >= len(script) {
			t.Errorf("request %d %s: script has only %d", next+1, got, len(script))
			http.Error(w, `{"message":"unexpected request"}`, http.StatusTeapot)
			return
		}
		ex := script[next]
		next++
		if msg := ex.mismatch(r, authName, authValue); msg != "" {
			t.Errorf("request %d %s: %s", next, got, msg)
			http.Error(w, `{"message":"unexpected request"}`, http.StatusTeapot)
			return
		}
		data, err := os.ReadFile(filepath.Join("testdata", ex.file))
		if err != nil {
			t.Errorf("request %d: %v", next, err)
			http.Error(w, `{"message":"missing sample"}`, http.StatusTeapot)
			return
		}
		for k, v := range ex.header {
			w.Header().Set(k, strings.ReplaceAll(v, "{{url}}", "http://"+r.Host))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(ex.status)
		_, _ = w.Write(data)
	}))
	t.Cleanup(func() {
		srv.Close()
		if next != len(script) {
			t.Errorf("server got %d of the %d scripted requests", next, len(script))
		}
	})
	return srv
}

func (ex exchange) mismatch(r *http.Request, authName, authValue string) string {
	if r.Method != ex.method || r.URL.EscapedPath() != ex.path {
		return "want " + ex.method + " " + ex.path
	}
	if got := r.Header.Get(authName); got != authValue {
		return "missing or wrong " + authName + " header"
	}
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		q[k] = strings.Join(v, ",")
	}
	if (len(q) != 0 || len(ex.query) != 0) && !reflect.DeepEqual(q, ex.query) {
		return "query " + r.URL.RawQuery + ", want " + mustJSON(ex.query)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return "read body: " + err.Error()
	}
	if ex.body == nil {
		if len(raw) != 0 {
			return "unexpected body " + string(raw)
		}
		return ""
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return "body is not a JSON object: " + string(raw)
	}
	if !reflect.DeepEqual(body, ex.body) {
		return "body " + string(raw) + ", want " + mustJSON(ex.body)
	}
	return ""
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// call is one Client call of a replay test and what it must return.
type call struct {
	name    string
	script  []exchange
	do      func(context.Context, *Client) (any, error)
	want    any      // result when the call succeeds
	wantErr []string // substrings of the error when it must fail
}

// runCalls runs each call against its own replay server; the token must never
// show in an error.
func runCalls(t *testing.T, kind, repo, authName, authValue, token string, calls []call) {
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			srv := replay(t, authName, authValue, tc.script)
			p, err := New(Config{Kind: kind, URL: srv.URL, Token: token, Repo: repo, HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.do(t.Context(), p)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("got %+v, want an error containing %q", got, tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}
