package sonar

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestTaskGate: a report-task.txt's ceTaskId leads through api/ce/task to
// the analysis it produced and that analysis's gate, not the project's
// latest. The answers are recordings of the documented shape of SonarQube's
// Web API (api/ce/task and api/qualitygates/project_status, as their
// examples in api/webservices show them); see testdata/README.md.
func TestTaskGate(t *testing.T) {
	rec, srv := newRecorded(t, testToken)
	c, err := New(srv.URL, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		task, project string
		status        string // the gate's, when there is one
		analysis      string
		wantErr       error
		wantMsg       string
	}{
		{task: "AZLxS3ffHn1Yk0sGZ0mT", project: "checkout", status: StatusOK, analysis: "AZ56bd2fa448607876d3"},
		{task: "AZfailedgate0000task", project: "checkout", status: StatusError, analysis: "AZda04c8e887ecdb5bb7"},
		{task: "AZpending000000task", project: "checkout", wantErr: ErrTaskPending, wantMsg: "IN_PROGRESS"},
		{task: "AZfailed00000000task", project: "checkout", wantErr: ErrNoAnalysis, wantMsg: "FAILED: Fail to extract report"},
		{task: "AZotherproject0task", project: "checkout", wantErr: ErrNoAnalysis, wantMsg: `analysed project "payments"`},
		{task: "AZunknown000000task", project: "checkout", wantErr: ErrNotFound, wantMsg: "No activity found"},
	}
	for _, tc := range tests {
		t.Run(tc.task, func(t *testing.T) {
			g, err := c.TaskGate(t.Context(), tc.project, tc.task)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Status != tc.status || g.AnalysisID != tc.analysis || g.TaskID != tc.task || len(g.Conditions) == 0 {
				t.Errorf("gate = %+v, want %s of analysis %s, task %s", g, tc.status, tc.analysis, tc.task)
			}
		})
	}
	// Never the project's latest gate: only ce/task and the analysis's status.
	for _, r := range rec.seen() {
		if strings.Contains(r, "projectKey=") || strings.HasPrefix(r, searchPath) {
			t.Errorf("asked %s", r)
		}
	}
	if !slices.Contains(rec.seen(), taskPath+"?id=AZLxS3ffHn1Yk0sGZ0mT") {
		t.Errorf("requests %q lack the task", rec.seen())
	}
	if _, err := c.TaskGate(t.Context(), "checkout", "x&analysisId=1"); err == nil {
		t.Error("a task id with a query was sent")
	}
}
