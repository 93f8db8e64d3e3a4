package gate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/ledger"
	"github.com/ferry-dev/ferry/agent/registry"
)

// taskSonar answers by task, as sonar.Client does after api/ce/task, and
// counts the revision lookups it was asked for.
type taskSonar struct {
	gates     map[string]sonar.Gate // by task id
	revisions int
}

func (s *taskSonar) QualityGate(context.Context, string, string) (sonar.Gate, error) {
	s.revisions++
	return sonar.Gate{Status: "OK", AnalysisID: "latest-of-revision"}, nil
}

func (s *taskSonar) TaskGate(_ context.Context, project, task string) (sonar.Gate, error) {
	g, ok := s.gates[task]
	if !ok {
		return sonar.Gate{}, sonar.ErrTaskPending
	}
	g.TaskID = task
	return g, nil
}

func reportTaskArtifact(project, task string) registry.Artifact {
	return registry.Artifact{ArtifactType: SonarReportTaskType, Digest: "sha256:rt-" + task, Created: time.Now(), Annotations: map[string]string{},
		Data: []byte("projectKey=" + project + "\nserverUrl=https://elsewhere.example\nceTaskId=" + task + "\n")}
}

// TestSonarReportTask: a report-task.txt attached to the image binds its
// quality gate to that analysis (not the revision's newest); one of
// another project, or a task still running, leaves the gate absent.
func TestSonarReportTask(t *testing.T) {
	tests := []struct {
		name      string
		arts      []registry.Artifact
		want      string // the gate's status; "" absent
		wantLine  string
		wantNote  string
		revisions int
	}{
		{name: "bound to the attached task", arts: []registry.Artifact{reportTaskArtifact("checkout", "T2"), reportTaskArtifact("checkout", "T1")},
			want: "ERROR", wantLine: "sonar checkout analysis A2 (task T2): ERROR"},
		{name: "another project's task", arts: []registry.Artifact{reportTaskArtifact("payments", "T1")},
			wantNote: `is of project "payments", not "checkout"`},
		{name: "still processing", arts: []registry.Artifact{reportTaskArtifact("checkout", "T9")},
			wantNote: "still processing task T9"},
		{name: "none attached: the revision's analysis", want: "",
			wantNote: "no org.opencontainers.image.revision", revisions: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := &taskSonar{gates: map[string]sonar.Gate{"T1": {Status: "OK", AnalysisID: "A1"}, "T2": {Status: "ERROR", AnalysisID: "A2"}}}
			g := New(Options{Config: &config.Pipeline{}, Images: referrerImages{tc.arts}, Sonar: map[string]QualityGates{"checkout": client}})
			app := &config.App{Name: "checkout", Image: "registry.example/shop/checkout",
				Evidence: config.Evidence{Sonar: &config.SonarEvidence{URL: "https://sonar.example", ProjectKey: "checkout"}}}
			req := &Request{App: app, Candidate: ledger.Version{Tag: "1.0.0", Digest: "sha256:abc"}, Cache: g.NewCache()}
			out, d := map[string]any{}, &Decision{}
			if err := (sonarSource{g}).Gather(context.Background(), req, out, d); err != nil {
				t.Fatal(err)
			}
			got, _ := out["sonar"].(*sonar.Gate)
			switch {
			case tc.want == "" && got != nil:
				t.Fatalf("sonar = %+v, want absent", got)
			case tc.want != "" && (got == nil || got.Status != tc.want):
				t.Fatalf("sonar = %+v, want %s", got, tc.want)
			}
			if tc.wantLine != "" && !containsLine(d.Evidence, tc.wantLine) {
				t.Errorf("evidence %q lacks %q", d.Evidence, tc.wantLine)
			}
			if tc.wantNote != "" && !strings.Contains(strings.Join(d.Notes, "\n"), tc.wantNote) {
				t.Errorf("notes %q lack %q", d.Notes, tc.wantNote)
			}
			if client.revisions != tc.revisions {
				t.Errorf("revision lookups = %d, want %d", client.revisions, tc.revisions)
			}
		})
	}
}
