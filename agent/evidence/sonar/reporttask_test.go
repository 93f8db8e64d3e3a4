package sonar

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files under testdata/report-task have the shape sonar-scanner writes
// to .scannerwork/report-task.txt (sonar-scanner-engine's ReportPublisher:
// one key=value line each for projectKey, serverUrl, serverVersion,
// dashboardUrl, ceTaskId, ceTaskUrl; SonarCloud adds organization).
func TestParseReportTask(t *testing.T) {
	tests := []struct {
		file string
		want ReportTask
	}{
		{"scanner-10.txt", ReportTask{ProjectKey: "checkout", ServerURL: "https://sonar.example", ServerVersion: "10.7.0.96327",
			DashboardURL: "https://sonar.example/dashboard?id=checkout", CETaskID: "AZLxS3ffHn1Yk0sGZ0mT",
			CETaskURL: "https://sonar.example/api/ce/task?id=AZLxS3ffHn1Yk0sGZ0mT"}},
		{"sonarcloud-crlf.txt", ReportTask{ProjectKey: "shop_checkout", ServerURL: "https://sonarcloud.io", ServerVersion: "8.0.0.64536",
			DashboardURL: "https://sonarcloud.io/dashboard?id=shop_checkout&branch=main", CETaskID: "AY-3n9kLx_2bQ1t0cWq4",
			CETaskURL: "https://sonarcloud.io/api/ce/task?id=AY-3n9kLx_2bQ1t0cWq4"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "report-task", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseReportTask(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseReportTaskRefuses(t *testing.T) {
	const good = "projectKey=checkout\nserverUrl=https://sonar.example\nceTaskId=AZLxS3ffHn1Yk0sGZ0mT\n"
	tests := []struct {
		name, data, want string
	}{
		{"not key=value", "projectKey=checkout\n{\"SchemaVersion\": 2}\n", `line 2: want key=value, got "{\"SchemaVersion\": 2}"`},
		{"no task id", "projectKey=checkout\nserverUrl=https://sonar.example\n", "no ceTaskId line"},
		{"no project", "serverUrl=https://sonar.example\nceTaskId=AZ1\n", "no projectKey line"},
		{"duplicate", good + "ceTaskId=other\n", `line 4: "ceTaskId" already set on line 3`},
		{"task id with a query", "projectKey=checkout\nserverUrl=https://sonar.example\nceTaskId=AZ1&x=y\n", `line 3: ceTaskId "AZ1&x=y" is not a SonarQube task id`},
		{"server not http", "projectKey=checkout\nserverUrl=ftp://sonar.example\nceTaskId=AZ1\n", "line 2: serverUrl is not an http(s) URL"},
		{"server with credentials", "projectKey=checkout\nserverUrl=https://admin:s3cret@sonar.example\nceTaskId=AZ1\n", "line 2: serverUrl carries credentials"},
		{"empty key", good + "=x\n", "line 4: empty key"},
		{"binary", "\xff\xfe", "not UTF-8"},
		{"too large", good + strings.Repeat("#\n", MaxReportTaskBytes), "over 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseReportTask([]byte(tc.data))
			if err == nil || !errors.Is(err, ErrReportTask) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrReportTask containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	// Comments, blank lines, escaped separators and unknown keys are fine.
	got, err := ParseReportTask([]byte("# written by hand\n\n" + good + "branch=main\nserverVersion=10\\:7\n"))
	if err != nil || got.ServerVersion != "10:7" || got.CETaskID != "AZLxS3ffHn1Yk0sGZ0mT" {
		t.Errorf("got %+v, %v", got, err)
	}
}

// FuzzParseReportTask: never a panic, and what is accepted has the
// required keys and a task id safe to put in a query.
func FuzzParseReportTask(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "report-task", "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("projectKey=a\nserverUrl=http://h\nceTaskId=x\nceTaskId=y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rt, err := ParseReportTask(data)
		if err != nil {
			return
		}
		if rt.ProjectKey == "" || rt.ServerURL == "" || !isTaskID(rt.CETaskID) {
			t.Fatalf("accepted %+v", rt)
		}
	})
}
