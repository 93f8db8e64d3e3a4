package sonar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

const taskPath = "/api/ce/task"

// Compute Engine task statuses, as api/ce/task reports them.
const (
	TaskPending    = "PENDING"
	TaskInProgress = "IN_PROGRESS"
	TaskSuccess    = "SUCCESS"
	TaskFailed     = "FAILED"
	TaskCanceled   = "CANCELED"
)

// ErrTaskPending means the analysis a report-task.txt names is still
// being processed by SonarQube: no gate yet; ask again later.
var ErrTaskPending = errors.New("the SonarQube analysis is still being processed")

type taskResponse struct {
	Task *struct {
		ID           string `json:"id"`
		Type         string `json:"type"`
		ComponentKey string `json:"componentKey"`
		AnalysisID   string `json:"analysisId"`
		Status       string `json:"status"`
		ErrorMessage string `json:"errorMessage"`
	} `json:"task"`
}

// TaskGate returns the quality gate of the analysis that the Compute Engine
// task taskID (a report-task.txt's ceTaskId) produced for projectKey:
// api/ce/task gives the analysis id, api/qualitygates/project_status its
// gate. A task still queued or running is ErrTaskPending; a failed or
// canceled one, or one of another project, wraps ErrNoAnalysis.
func (c *Client) TaskGate(ctx context.Context, projectKey, taskID string) (Gate, error) {
	if !isTaskID(taskID) {
		return Gate{}, fmt.Errorf("sonar: task id %q is not a SonarQube task id", taskID)
	}
	body, err := c.get(ctx, taskPath, url.Values{"id": {taskID}})
	if err != nil {
		return Gate{}, fmt.Errorf("SonarQube task %s: %w", taskID, err)
	}
	var r taskResponse
	if err := decode("api/ce/task response", body, &r); err != nil {
		return Gate{}, err
	}
	t := r.Task
	switch {
	case t == nil:
		return Gate{}, fmt.Errorf("SonarQube task %s: no task object in the answer", taskID)
	case t.ID != taskID:
		return Gate{}, fmt.Errorf("SonarQube task %s: the answer is about task %q", taskID, t.ID)
	case t.ComponentKey != projectKey:
		// A report task of another project must not stand for this one.
		return Gate{}, fmt.Errorf("%w of project %q: task %s analysed project %q", ErrNoAnalysis, projectKey, taskID, t.ComponentKey)
	}
	switch t.Status {
	case TaskPending, TaskInProgress:
		return Gate{}, fmt.Errorf("task %s is %s: %w", taskID, t.Status, ErrTaskPending)
	case TaskFailed, TaskCanceled:
		msg := ""
		if t.ErrorMessage != "" {
			msg = ": " + t.ErrorMessage
		}
		return Gate{}, fmt.Errorf("%w of project %q: task %s is %s%s", ErrNoAnalysis, projectKey, taskID, t.Status, msg)
	case TaskSuccess:
	default:
		return Gate{}, fmt.Errorf("SonarQube task %s: unknown status %q", taskID, t.Status)
	}
	if t.AnalysisID == "" {
		return Gate{}, fmt.Errorf("%w of project %q: task %s succeeded without an analysis", ErrNoAnalysis, projectKey, taskID)
	}
	g, err := c.status(ctx, url.Values{"analysisId": {t.AnalysisID}})
	if err != nil {
		return Gate{}, fmt.Errorf("quality gate of project %q, task %s (analysis %s): %w", projectKey, taskID, t.AnalysisID, err)
	}
	g.AnalysisID, g.TaskID = t.AnalysisID, taskID
	return g, nil
}
