package sonar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

const (
	searchPath = "/api/project_analyses/search"
	statusPath = "/api/qualitygates/project_status"

	pageSize = 100
	// maxPages bounds the history walk: a revision older than the newest
	// 10,000 analyses is as good as absent.
	maxPages = 100
	// minShortSHA is the shortest abbreviated commit id matched by prefix.
	minShortSHA = 7
)

// Quality gate statuses as SonarQube reports them. WARN exists only on
// SonarQube before 7.6; NONE means no gate applies or nothing was analysed.
const (
	StatusOK    = "OK"
	StatusWarn  = "WARN"
	StatusError = "ERROR"
	StatusNone  = "NONE"
)

// Condition is one quality gate condition. Threshold is the threshold the
// status was judged against (the warning threshold for a WARN condition).
type Condition struct {
	Metric     string `json:"metric"`
	Status     string `json:"status"`
	Actual     string `json:"actual"`
	Threshold  string `json:"threshold"`
	Comparator string `json:"comparator"`
}

// Gate is a quality gate result, shaped for the policy input's
// evidence.sonar. AnalysisID is empty when the gate was read for the
// project's latest analysis rather than for a revision.
type Gate struct {
	Status     string `json:"status"`
	AnalysisID string `json:"analysisId"`
	// TaskID is the Compute Engine task of a report-task.txt attached to the
	// image, when the gate was read through it.
	TaskID     string      `json:"taskId,omitempty"`
	Conditions []Condition `json:"conditions"`
}

// QualityGate returns the quality gate of projectKey. With a revision (a
// commit id; an abbreviated one of 7 or more hex digits matches by prefix)
// it reads the gate of the newest analysis of that revision, and returns an
// error wrapping ErrNoAnalysis when there is none. Without a revision it
// reads the gate of the project's latest analysis.
func (c *Client) QualityGate(ctx context.Context, projectKey, revision string) (Gate, error) {
	if projectKey == "" {
		return Gate{}, errors.New("sonar: empty project key")
	}
	if revision == "" {
		g, err := c.status(ctx, url.Values{"projectKey": {projectKey}})
		if err != nil {
			return Gate{}, fmt.Errorf("quality gate of project %q: %w", projectKey, err)
		}
		return g, nil
	}
	id, err := c.findAnalysis(ctx, projectKey, revision)
	if err != nil {
		return Gate{}, err
	}
	g, err := c.status(ctx, url.Values{"analysisId": {id}})
	if err != nil {
		return Gate{}, fmt.Errorf("quality gate of project %q at revision %q (analysis %s): %w", projectKey, revision, id, err)
	}
	g.AnalysisID = id
	return g, nil
}

func (c *Client) status(ctx context.Context, q url.Values) (Gate, error) {
	body, err := c.get(ctx, statusPath, q)
	if err != nil {
		return Gate{}, err
	}
	return parseStatus(body)
}

type searchResponse struct {
	Paging struct {
		PageIndex int `json:"pageIndex"`
		PageSize  int `json:"pageSize"`
		Total     int `json:"total"`
	} `json:"paging"`
	Analyses []struct {
		Key      string `json:"key"`
		Date     string `json:"date"`
		Revision string `json:"revision"`
	} `json:"analyses"`
}

// findAnalysis walks the project's analyses, newest first (SonarQube sorts
// them by date, descending), and returns the key of the first one of revision.
func (c *Client) findAnalysis(ctx context.Context, projectKey, revision string) (string, error) {
	match := revisionMatcher(revision)
	for page := 1; page <= maxPages; page++ {
		q := url.Values{"project": {projectKey}, "ps": {strconv.Itoa(pageSize)}, "p": {strconv.Itoa(page)}}
		body, err := c.get(ctx, searchPath, q)
		if err != nil {
			return "", fmt.Errorf("analyses of project %q: %w", projectKey, err)
		}
		var r searchResponse
		if err := decode(fmt.Sprintf("analyses of project %q, page %d", projectKey, page), body, &r); err != nil {
			return "", err
		}
		for _, a := range r.Analyses {
			if !match(a.Revision) {
				continue
			}
			if a.Key == "" {
				return "", fmt.Errorf("analyses of project %q, page %d: analysis of revision %q has no key", projectKey, page, a.Revision)
			}
			return a.Key, nil
		}
		size := r.Paging.PageSize
		if size <= 0 {
			size = len(r.Analyses)
		}
		if len(r.Analyses) == 0 || page*size >= r.Paging.Total {
			return "", fmt.Errorf("%w of project %q at revision %q", ErrNoAnalysis, projectKey, revision)
		}
	}
	return "", fmt.Errorf("%w of project %q at revision %q among its newest %d analyses",
		ErrNoAnalysis, projectKey, revision, maxPages*pageSize)
}

// revisionMatcher matches full commit ids exactly and abbreviated ones by
// prefix, ignoring hex case; anything else (an SVN revision, a tag) exactly.
func revisionMatcher(revision string) func(string) bool {
	if len(revision) < minShortSHA || !isHex(revision) {
		return func(r string) bool { return r == revision }
	}
	want := strings.ToLower(revision)
	return func(r string) bool { return strings.HasPrefix(strings.ToLower(r), want) }
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}

type statusResponse struct {
	ProjectStatus *struct {
		Status     string `json:"status"`
		Conditions []struct {
			Status           string `json:"status"`
			MetricKey        string `json:"metricKey"`
			Comparator       string `json:"comparator"`
			ErrorThreshold   string `json:"errorThreshold"`
			WarningThreshold string `json:"warningThreshold"`
			ActualValue      string `json:"actualValue"`
		} `json:"conditions"`
	} `json:"projectStatus"`
}

// parseStatus reads an api/qualitygates/project_status body. Conditions is
// never nil, so the policy input always holds a list.
func parseStatus(body []byte) (Gate, error) {
	var r statusResponse
	if err := decode("project_status response", body, &r); err != nil {
		return Gate{}, err
	}
	ps := r.ProjectStatus
	if ps == nil {
		return Gate{}, errors.New("parse project_status response: no projectStatus object")
	}
	switch ps.Status {
	case StatusOK, StatusWarn, StatusError, StatusNone:
	default:
		return Gate{}, fmt.Errorf("parse project_status response: unknown quality gate status %q (want OK, WARN, ERROR or NONE)", ps.Status)
	}
	g := Gate{Status: ps.Status, Conditions: make([]Condition, 0, len(ps.Conditions))}
	for i, pc := range ps.Conditions {
		if pc.MetricKey == "" {
			return Gate{}, fmt.Errorf("parse project_status response: condition %d has no metricKey", i)
		}
		threshold := pc.ErrorThreshold
		if pc.Status == StatusWarn && pc.WarningThreshold != "" || threshold == "" {
			threshold = pc.WarningThreshold
		}
		g.Conditions = append(g.Conditions, Condition{
			Metric:     pc.MetricKey,
			Status:     pc.Status,
			Actual:     pc.ActualValue,
			Threshold:  threshold,
			Comparator: pc.Comparator,
		})
	}
	return g, nil
}
