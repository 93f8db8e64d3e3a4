package sonar

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/ferry-dev/ferry/internal/text"
)

// MaxReportTaskBytes caps a report-task.txt: the scanner writes some 400
// bytes; anything far larger is not that file.
const MaxReportTaskBytes = 64 << 10

// ReportTask is what sonar-scanner writes to .scannerwork/report-task.txt
// after it uploads an analysis: the project, the server, and the Compute
// Engine task that turns the upload into an analysis. Binding an image to
// its task binds it to that analysis, whatever ran after it.
type ReportTask struct {
	ProjectKey    string `json:"projectKey"`
	ServerURL     string `json:"serverUrl"`
	ServerVersion string `json:"serverVersion,omitempty"`
	DashboardURL  string `json:"dashboardUrl,omitempty"`
	CETaskID      string `json:"ceTaskId"`
	CETaskURL     string `json:"ceTaskUrl,omitempty"`
}

// ErrReportTask marks a report-task.txt that does not parse.
var ErrReportTask = errors.New("not a SonarQube report-task.txt")

// ParseReportTask reads a report-task.txt. The scanner writes one
// `key=value` line per key (Java properties without escapes); blank lines
// and `#` or `!` comments are skipped, and keys the scanner adds in other
// versions (organization, branch) are ignored. projectKey, serverUrl and
// ceTaskId are required. Errors name the line and the reason.
func ParseReportTask(data []byte) (ReportTask, error) {
	if len(data) > MaxReportTaskBytes {
		return ReportTask{}, fmt.Errorf("%w: %d bytes, over %d", ErrReportTask, len(data), MaxReportTaskBytes)
	}
	if !utf8.Valid(data) {
		return ReportTask{}, fmt.Errorf("%w: not UTF-8 text", ErrReportTask)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	seen := map[string]int{}
	var rt ReportTask
	fields := map[string]*string{
		"projectKey": &rt.ProjectKey, "serverUrl": &rt.ServerURL, "serverVersion": &rt.ServerVersion,
		"dashboardUrl": &rt.DashboardURL, "ceTaskId": &rt.CETaskID, "ceTaskUrl": &rt.CETaskURL,
	}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return ReportTask{}, fmt.Errorf("%w: line %d: want key=value, got %s", ErrReportTask, n, text.Quote(line, 40))
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		// The properties format allows escaped separators (\: \=); the
		// scanner does not write them, but a hand-made file may.
		value = strings.NewReplacer(`\:`, ":", `\=`, "=", `\\`, `\`).Replace(value)
		if key == "" {
			return ReportTask{}, fmt.Errorf("%w: line %d: empty key", ErrReportTask, n)
		}
		if prev, dup := seen[key]; dup {
			return ReportTask{}, fmt.Errorf("%w: line %d: %s already set on line %d", ErrReportTask, n, text.Quote(key, 40), prev)
		}
		seen[key] = n
		if p, known := fields[key]; known {
			*p = value
		}
	}
	for _, req := range []struct{ key, value string }{{"projectKey", rt.ProjectKey}, {"serverUrl", rt.ServerURL}, {"ceTaskId", rt.CETaskID}} {
		if req.value == "" {
			return ReportTask{}, fmt.Errorf("%w: no %s line (sonar-scanner writes projectKey, serverUrl and ceTaskId)", ErrReportTask, req.key)
		}
	}
	// The task id goes into an API query: SonarQube's ids are UUID-like
	// tokens, so anything else is refused rather than sent.
	if !isTaskID(rt.CETaskID) {
		return ReportTask{}, fmt.Errorf("%w: line %d: ceTaskId %s is not a SonarQube task id (letters, digits, - and _)", ErrReportTask, seen["ceTaskId"], text.Quote(rt.CETaskID, 40))
	}
	u, err := url.Parse(rt.ServerURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ReportTask{}, fmt.Errorf("%w: line %d: serverUrl is not an http(s) URL", ErrReportTask, seen["serverUrl"])
	}
	if u.User != nil {
		return ReportTask{}, fmt.Errorf("%w: line %d: serverUrl carries credentials", ErrReportTask, seen["serverUrl"])
	}
	return rt, nil
}

func isTaskID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
