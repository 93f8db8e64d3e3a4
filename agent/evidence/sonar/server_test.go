package sonar

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// recorded serves SonarQube Web API answers from testdata, checking the
// query parameters and the token the way SonarQube would. A few project
// keys misbehave on purpose: "broken" (500), "forbidden" (403), "slow"
// (never answers), "huge" (a body over the cap).
type recorded struct {
	t     testing.TB
	token string

	mu       sync.Mutex
	requests []string // path?query of each request, in order
}

func newRecorded(t testing.TB, token string) (*recorded, *httptest.Server) {
	t.Helper()
	rec := &recorded{t: t, token: token}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func (s *recorded) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *recorded) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path+"?"+r.URL.RawQuery)
	s.mu.Unlock()

	if r.Method != http.MethodGet {
		s.fail(w, http.StatusMethodNotAllowed, "method %s", r.Method)
		return
	}
	// SonarQube answers a bad or missing token with an empty 401.
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case searchPath:
		project := q.Get("project")
		if !onlyParams(q, "project", "ps", "p") || project == "" || q.Get("ps") != "100" {
			s.fail(w, http.StatusBadRequest, "bad search query %q", r.URL.RawQuery)
			return
		}
		page, err := strconv.Atoi(q.Get("p"))
		if err != nil || page < 1 {
			s.fail(w, http.StatusBadRequest, "bad page %q", q.Get("p"))
			return
		}
		if s.misbehave(w, r, project) {
			return
		}
		if _, err := os.Stat(filepath.Join("testdata", "project_analyses", project+"-p1.json")); err != nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("Project '%s' not found", project))
			return
		}
		s.serveFile(w, filepath.Join("testdata", "project_analyses", fmt.Sprintf("%s-p%d.json", project, page)))
	case statusPath:
		id, key := q.Get("analysisId"), q.Get("projectKey")
		switch {
		case onlyParams(q, "analysisId") && id != "":
			file := filepath.Join("testdata", "project_status", "analysis-"+id+".json")
			if _, err := os.Stat(file); err != nil {
				apiError(w, http.StatusNotFound, fmt.Sprintf("Analysis with id '%s' is not found", id))
				return
			}
			s.serveFile(w, file)
		case onlyParams(q, "projectKey") && key != "":
			if s.misbehave(w, r, key) {
				return
			}
			file := filepath.Join("testdata", "project_status", "project-"+key+".json")
			if _, err := os.Stat(file); err != nil {
				apiError(w, http.StatusNotFound, fmt.Sprintf("Project '%s' not found", key))
				return
			}
			s.serveFile(w, file)
		default:
			s.fail(w, http.StatusBadRequest, "bad project_status query %q", r.URL.RawQuery)
		}
	case taskPath:
		id := q.Get("id")
		if !onlyParams(q, "id") || id == "" {
			s.fail(w, http.StatusBadRequest, "bad ce/task query %q", r.URL.RawQuery)
			return
		}
		file := filepath.Join("testdata", "ce_task", id+".json")
		if _, err := os.Stat(file); err != nil {
			apiError(w, http.StatusNotFound, fmt.Sprintf("No activity found for task '%s'", id))
			return
		}
		s.serveFile(w, file)
	default:
		s.fail(w, http.StatusNotFound, "unexpected path %s", r.URL.Path)
	}
}

func (s *recorded) misbehave(w http.ResponseWriter, r *http.Request, project string) bool {
	switch project {
	case "broken":
		apiError(w, http.StatusInternalServerError, "An error has occurred. Please contact your administrator")
	case "forbidden":
		apiError(w, http.StatusForbidden, "Insufficient privileges")
	case "slow":
		<-r.Context().Done()
	case "huge":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{"+strings.Repeat(" ", MaxBodyBytes)+"}")
	default:
		return false
	}
	return true
}

// fail reports a request the client should never have sent.
func (s *recorded) fail(w http.ResponseWriter, code int, format string, args ...any) {
	s.t.Errorf("recorded SonarQube: "+format, args...)
	apiError(w, code, fmt.Sprintf(format, args...))
}

func (s *recorded) serveFile(w http.ResponseWriter, file string) {
	body, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		s.fail(w, http.StatusNotFound, "no recording %s", file)
		return
	}
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "read %s: %v", file, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"errors":[{"msg":%q}]}`, msg)
}

func onlyParams(q map[string][]string, names ...string) bool {
	if len(q) != len(names) {
		return false
	}
	for _, n := range names {
		if len(q[n]) != 1 {
			return false
		}
	}
	return true
}
