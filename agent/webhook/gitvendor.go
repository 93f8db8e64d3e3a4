package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Forges /hooks/git understands; each is also a path, /hooks/git/<forge>,
// that pins the parser instead of detecting it.
const (
	ForgeGitea           = "gitea"
	ForgeGitHub          = "github"
	ForgeGitLab          = "gitlab"
	ForgeBitbucket       = "bitbucket"        // Bitbucket Cloud
	ForgeBitbucketServer = "bitbucket-server" // Bitbucket Server and Data Center
)

// Forges lists the forges, in the order they are detected.
var Forges = []string{ForgeGitea, ForgeGitHub, ForgeGitLab, ForgeBitbucket, ForgeBitbucketServer}

// zeroCommit is what a deleted ref points at.
const zeroCommit = "0000000000000000000000000000000000000000"

// DetectForge names the forge that sent a call from its event header:
// X-Gitea-Event (checked first: Gitea sends X-GitHub-Event too),
// X-GitHub-Event, X-Gitlab-Event, or X-Event-Key (Bitbucket Cloud's
// repo:* keys and Server's repo:refs_changed / diagnostics:ping differ). ""
// when there is none: the body is read as a Gitea/GitHub/GitLab push.
func DetectForge(h http.Header) string {
	switch {
	case h.Get("X-Gitea-Event") != "":
		return ForgeGitea
	case h.Get("X-GitHub-Event") != "":
		return ForgeGitHub
	case h.Get("X-Gitlab-Event") != "":
		return ForgeGitLab
	case h.Get("X-Event-Key") != "":
		// Bitbucket Server's payload repeats its key as eventKey; its
		// requests carry X-Request-Id where Cloud's carry X-Request-UUID.
		if k := h.Get("X-Event-Key"); k == "repo:refs_changed" || strings.HasPrefix(k, "diagnostics:") || h.Get("X-Request-Id") != "" && h.Get("X-Request-UUID") == "" {
			return ForgeBitbucketServer
		}
		return ForgeBitbucket
	}
	return ""
}

// ParseGitPush parses a push from forge ("" detects it from the headers,
// see DetectForge). Events that are not pushes (ping, pull requests, tag
// creation notices) return an error wrapping ErrIgnored; a push may move
// several refs (Bitbucket), so the result is a list.
func ParseGitPush(forge string, h http.Header, body []byte) ([]PushEvent, error) {
	if forge == "" {
		forge = DetectForge(h)
	}
	var event string
	switch forge {
	case ForgeGitea:
		event = h.Get("X-Gitea-Event")
	case ForgeGitHub:
		event = h.Get("X-GitHub-Event")
	case ForgeGitLab:
		event = h.Get("X-Gitlab-Event")
	case ForgeBitbucket, ForgeBitbucketServer:
		event = h.Get("X-Event-Key")
	case "":
	default:
		return nil, fmt.Errorf("push event: unknown forge %q", forge)
	}
	switch forge {
	case "":
		ev, err := ParsePush(body)
		if err != nil {
			return nil, err
		}
		return []PushEvent{ev}, nil
	case ForgeGitea, ForgeGitHub:
		if event != "" && event != "push" {
			return nil, ignored("%s event %q", forge, clip(event))
		}
	case ForgeGitLab:
		if event != "" && event != "Push Hook" && event != "Tag Push Hook" {
			return nil, ignored("gitlab event %q", clip(event))
		}
	case ForgeBitbucket:
		if event != "" && event != "repo:push" {
			return nil, ignored("bitbucket event %q", clip(event))
		}
		return ParseBitbucketCloudPush(body)
	case ForgeBitbucketServer:
		if event != "" && event != "repo:refs_changed" {
			return nil, ignored("bitbucket server event %q", clip(event))
		}
		return ParseBitbucketServerPush(body)
	}
	ev, err := ParsePush(body)
	if err != nil {
		return nil, fmt.Errorf("%s %w", forge, err)
	}
	if ev.After == "" { // every push names the commit the ref moved to
		return nil, fmt.Errorf(`%s push event: no "after"`, forge)
	}
	return []PushEvent{ev}, nil
}

// ParseBitbucketCloudPush reads Bitbucket Cloud's repo:push: one event per
// push.changes[] entry, the ref from new.type and new.name (old's when the
// branch was deleted) and the commit from new.target.hash.
func ParseBitbucketCloudPush(body []byte) ([]PushEvent, error) {
	type refState struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Target struct {
			Hash string `json:"hash"`
		} `json:"target"`
	}
	var p struct {
		Push *struct {
			Changes []struct {
				New *refState `json:"new"`
				Old *refState `json:"old"`
			} `json:"changes"`
		} `json:"push"`
		Repository struct {
			FullName string `json:"full_name"`
			Links    struct {
				HTML struct {
					Href string `json:"href"`
				} `json:"html"`
			} `json:"links"`
		} `json:"repository"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("bitbucket push: %w", err)
	}
	if p.Push == nil {
		return nil, errors.New(`bitbucket push: no "push"`)
	}
	if len(p.Push.Changes) == 0 {
		return nil, errors.New("bitbucket push: no push.changes")
	}
	repo := withoutCredentials(p.Repository.Links.HTML.Href)
	if repo == "" {
		repo = p.Repository.FullName
	}
	var out []PushEvent
	for i, c := range p.Push.Changes {
		ref, after := c.New, ""
		if ref != nil {
			after = ref.Target.Hash
			if after == "" {
				return nil, fmt.Errorf("bitbucket push: push.changes[%d]: no new.target.hash", i)
			}
		} else if ref = c.Old; ref != nil {
			after = zeroCommit // the branch or tag was deleted
		}
		if ref == nil || ref.Name == "" {
			return nil, fmt.Errorf("bitbucket push: push.changes[%d]: no new.name or old.name", i)
		}
		out = append(out, PushEvent{Ref: qualifyRef(ref.Type, ref.Name), After: after, Repository: repo})
	}
	return out, nil
}

func qualifyRef(typ, name string) string {
	switch {
	case strings.HasPrefix(name, "refs/"):
		return name
	case strings.EqualFold(typ, "tag"):
		return "refs/tags/" + name
	}
	return "refs/heads/" + name
}

// ParseBitbucketServerPush reads Bitbucket Server and Data Center's
// repo:refs_changed (changes[]: refId, toHash) and the older post-receive
// hook's refChanges[] of the same shape: one event per changed ref.
func ParseBitbucketServerPush(body []byte) ([]PushEvent, error) {
	type change struct {
		RefID  string `json:"refId"`
		ToHash string `json:"toHash"`
		Type   string `json:"type"`
		Ref    struct {
			ID string `json:"id"`
		} `json:"ref"`
	}
	var p struct {
		Changes    *[]change `json:"changes"`
		RefChanges *[]change `json:"refChanges"`
		Repository struct {
			Slug    string `json:"slug"`
			Project struct {
				Key string `json:"key"`
			} `json:"project"`
			Links struct {
				Clone []struct {
					Href string `json:"href"`
					Name string `json:"name"`
				} `json:"clone"`
			} `json:"links"`
		} `json:"repository"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("bitbucket server push: %w", err)
	}
	field, changes := "changes", p.Changes
	if changes == nil {
		field, changes = "refChanges", p.RefChanges
	}
	if changes == nil || len(*changes) == 0 {
		return nil, errors.New("bitbucket server push: no changes or refChanges")
	}
	repo := ""
	for _, l := range p.Repository.Links.Clone {
		if strings.HasPrefix(l.Name, "http") {
			repo = withoutCredentials(l.Href)
		}
	}
	if repo == "" && p.Repository.Slug != "" {
		repo = p.Repository.Project.Key + "/" + p.Repository.Slug
	}
	var out []PushEvent
	for i, c := range *changes {
		ref := c.RefID
		if ref == "" {
			ref = c.Ref.ID
		}
		if ref == "" {
			return nil, fmt.Errorf("bitbucket server push: %s[%d]: no refId", field, i)
		}
		if c.ToHash == "" {
			return nil, fmt.Errorf("bitbucket server push: %s[%d]: no toHash", field, i)
		}
		out = append(out, PushEvent{Ref: ref, After: c.ToHash, Repository: repo})
	}
	return out, nil
}
