// The SonarQube evidence: the quality gate of the analysis an attached
// report task names, else of the image's source revision.

package gate

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/evidence/sonar"
	"github.com/ferry-dev/ferry/agent/ledger"
)

// sonarResult is what one candidate's quality gate came to.
type sonarResult struct {
	gate *sonar.Gate
	note string
}

// sonarSource is input.evidence.sonar: the quality gate of the analysis of
// the image's source revision.
type sonarSource struct{ g *Gate }

func (s sonarSource) Gather(ctx context.Context, req *Request, out map[string]any, d *Decision) error {
	client := s.g.opts.Sonar[req.App.Name]
	if client == nil {
		return nil
	}
	res, ok := req.Cache.sonar[req.Candidate.Digest]
	if !ok {
		var err error
		if res, err = s.read(ctx, req, client); err != nil {
			return err
		}
		req.Cache.sonar[req.Candidate.Digest] = res
	}
	if res.gate == nil {
		d.Notes = append(d.Notes, res.note)
		return nil
	}
	out["sonar"] = res.gate
	line := fmt.Sprintf("sonar %s analysis %s: %s", req.App.Evidence.Sonar.ProjectKey, res.gate.AnalysisID, res.gate.Status)
	if res.gate.TaskID != "" {
		line = fmt.Sprintf("sonar %s analysis %s (task %s): %s", req.App.Evidence.Sonar.ProjectKey, res.gate.AnalysisID, res.gate.TaskID, res.gate.Status)
	}
	d.Evidence = append(d.Evidence, line)
	return nil
}

// read finds the candidate's analysis: the one a report-task.txt attached
// to the image names, else the newest of the image's source revision.
func (s sonarSource) read(ctx context.Context, req *Request, client QualityGates) (sonarResult, error) {
	if tg, ok := client.(TaskGates); ok && req.Cache.images != nil && req.Candidate.Digest != "" {
		res, found, err := readSonarTask(ctx, req, tg)
		if err != nil || found {
			return res, err
		}
	}
	info, err := req.Cache.inspect(ctx, req.App, req.Candidate.Digest)
	if err != nil {
		return sonarResult{}, err
	}
	return readSonar(ctx, client, req.App, info.Revision), nil
}

// readSonarTask reads the gate of the analysis the newest report-task.txt
// attached to the candidate names. found is false when none is attached.
func readSonarTask(ctx context.Context, req *Request, client TaskGates) (res sonarResult, found bool, err error) {
	app, v := req.App, req.Candidate
	cfg := app.Evidence.Sonar
	timeout := cfg.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	arts, err := req.Cache.images.Referrers(ctx, app.Image, v.Digest, []string{SonarReportTaskType}, sonar.MaxReportTaskBytes, app.Insecure)
	if err != nil {
		return sonarResult{}, false, fmt.Errorf("sonar report-task referrers of %s@%s: %w", app.Image, v.Digest, err)
	}
	if len(arts) == 0 {
		return sonarResult{}, false, nil
	}
	rt, err := sonar.ParseReportTask(arts[0].Data)
	if err != nil {
		return sonarResult{}, true, fmt.Errorf("sonar report-task of %s %s (referrer %s): %w", app.Name, v, arts[0].Digest, err)
	}
	// The attached file chooses the analysis, never the server or the
	// project: the token goes only to the configured server, and a task of
	// another project does not stand for this one.
	if rt.ProjectKey != cfg.ProjectKey {
		return sonarResult{note: fmt.Sprintf("the SonarQube report task attached to %s (referrer %s) is of project %q, not %q: no quality gate for this image",
			v, ledger.ShortDigest(arts[0].Digest), rt.ProjectKey, cfg.ProjectKey)}, true, nil
	}
	gate, err := client.TaskGate(ctx, cfg.ProjectKey, rt.CETaskID)
	switch {
	case errors.Is(err, sonar.ErrTaskPending):
		return sonarResult{note: fmt.Sprintf("SonarQube is still processing task %s of %s: no quality gate yet", rt.CETaskID, cfg.ProjectKey)}, true, nil
	case errors.Is(err, sonar.ErrNoAnalysis):
		return sonarResult{note: fmt.Sprintf("SonarQube task %s gave no analysis: %v", rt.CETaskID, err)}, true, nil
	case err != nil:
		return sonarResult{note: fmt.Sprintf("SonarQube quality gate unavailable: %v", err)}, true, nil
	}
	return sonarResult{gate: &gate}, true, nil
}

func readSonar(ctx context.Context, client QualityGates, app *config.App, revision string) sonarResult {
	if revision == "" {
		return sonarResult{note: "the image has no org.opencontainers.image.revision label or annotation, so its SonarQube analysis cannot be found"}
	}
	timeout := app.Evidence.Sonar.Timeout.Std()
	if timeout <= 0 {
		timeout = defaultEvidenceTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	gate, err := client.QualityGate(ctx, app.Evidence.Sonar.ProjectKey, revision)
	if errors.Is(err, sonar.ErrNoAnalysis) {
		return sonarResult{note: fmt.Sprintf("SonarQube has no analysis of %s at revision %s", app.Evidence.Sonar.ProjectKey, revision)}
	}
	if err != nil {
		// SonarQube down or slow: the gate cannot be judged; the evidence is
		// absent, so a policy that needs it denies and the next pass retries.
		return sonarResult{note: fmt.Sprintf("SonarQube quality gate unavailable: %v", err)}
	}
	return sonarResult{gate: &gate}
}
