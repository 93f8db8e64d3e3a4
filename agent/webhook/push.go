package webhook

import (
	"errors"
	"fmt"
	"net/url"
)

// PushEvent is a push to a Git repository, reduced to what ferry needs to
// know: which branch moved, to what commit, in which repository.
type PushEvent struct {
	Ref        string // refs/heads/main
	After      string // commit id the ref now points at (all zeros: deleted)
	Repository string // clone URL, without credentials
}

// pushPayload is the common shape of Gitea, GitHub and GitLab push events.
type pushPayload struct {
	Ref         string `json:"ref"`
	After       string `json:"after"`
	CheckoutSHA string `json:"checkout_sha"` // GitLab
	Repository  *struct {
		CloneURL   string `json:"clone_url"`    // Gitea, GitHub
		GitHTTPURL string `json:"git_http_url"` // GitLab
		HTMLURL    string `json:"html_url"`
	} `json:"repository"`
	Project *struct { // GitLab repeats the repository here
		GitHTTPURL string `json:"git_http_url"`
	} `json:"project"`
}

// ParsePush reads a push event sent by Gitea, GitHub or GitLab (or anything
// sending the same fields). ref is required; the repository URL is taken
// from repository.clone_url, repository.git_http_url, project.git_http_url
// or repository.html_url, in that order.
func ParsePush(body []byte) (PushEvent, error) {
	var p pushPayload
	if err := decodeJSON(body, &p); err != nil {
		return PushEvent{}, fmt.Errorf("push event: %w", err)
	}
	if p.Ref == "" {
		return PushEvent{}, errors.New(`push event: no "ref"`)
	}
	ev := PushEvent{Ref: p.Ref, After: p.After}
	if ev.After == "" {
		ev.After = p.CheckoutSHA
	}
	var candidates []string
	if r := p.Repository; r != nil {
		candidates = append(candidates, r.CloneURL, r.GitHTTPURL)
	}
	if p.Project != nil {
		candidates = append(candidates, p.Project.GitHTTPURL)
	}
	if r := p.Repository; r != nil {
		candidates = append(candidates, r.HTMLURL)
	}
	for _, c := range candidates {
		if c != "" {
			ev.Repository = withoutCredentials(c)
			break
		}
	}
	return ev, nil
}

// withoutCredentials drops user:password@ so the URL is safe to log.
func withoutCredentials(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "" // unparsable, and possibly holding a secret: leave it out
	case u.User != nil:
		u.User = nil
		return u.String()
	}
	return raw
}
