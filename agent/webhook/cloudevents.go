// CloudEvents and CDEvents on /hooks/registry: structured and binary
// mode, Harbor's CloudEvents format, and image purls.

package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// HarborCloudEventPushed is the CloudEvents type of Harbor's artifact push
// (its "CloudEvents" payload format).
const HarborCloudEventPushed = "harbor.artifact.pushed"

// CDEventArtifactPublished is the CDEvents type prefix (a version follows)
// of an artifact published, the one CDEvent ferry acts on.
const CDEventArtifactPublished = "dev.cdevents.artifact.published."

// ParseCloudEvent reads a CloudEvents 1.0 event over HTTP, structured
// (application/cloudevents+json, the attributes and data in the body) or
// binary (ce-* headers, the data as the body), and acts on a CDEvents
// artifact published whose subject.id is a package URL of an image:
// pkg:oci/NAME@DIGEST?repository_url=HOST/REPO&tag=TAG (or pkg:docker).
// Other event types and artifact kinds are ignored.
func ParseCloudEvent(h http.Header, body []byte) ([]RegistryEvent, error) {
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/cloudevents-batch+json" {
		return nil, errors.New("cloudevent: batched mode (application/cloudevents-batch+json) is not supported: send one event per request")
	}
	ceType, data := h.Get("Ce-Type"), body
	if structuredCloudEvent(h, body) {
		var ev struct {
			SpecVersion string          `json:"specversion"`
			Type        string          `json:"type"`
			Data        json.RawMessage `json:"data"`
		}
		if err := decodeJSON(body, &ev); err != nil {
			return nil, fmt.Errorf("cloudevent: %w", err)
		}
		if ev.SpecVersion == "" {
			return nil, errors.New("cloudevent: no specversion (structured mode) or ce-specversion header (binary mode)")
		}
		ceType, data = ev.Type, ev.Data
	}
	if ceType == "" {
		return nil, errors.New("cloudevent: no type")
	}
	if ceType == HarborCloudEventPushed {
		// Harbor's "CloudEvents" payload format: the data is the Default
		// format's event_data.
		if len(data) == 0 {
			return nil, errors.New("cloudevent: harbor push without data")
		}
		return ParseHarbor([]byte(`{"type":"PUSH_ARTIFACT","event_data":` + string(data) + `}`))
	}
	if !strings.HasPrefix(ceType, CDEventArtifactPublished) {
		return nil, ignored("cloudevent of type %q", clip(ceType))
	}
	var cd struct {
		Subject *struct {
			ID string `json:"id"`
		} `json:"subject"`
	}
	if len(data) == 0 {
		return nil, errors.New("cloudevent: artifact published without data")
	}
	if err := decodeJSON(data, &cd); err != nil {
		return nil, fmt.Errorf("cloudevent data: %w", err)
	}
	if cd.Subject == nil || cd.Subject.ID == "" {
		return nil, errors.New("cloudevent: artifact published without subject.id")
	}
	ev, err := parseImagePURL(cd.Subject.ID)
	if err != nil {
		return nil, fmt.Errorf("cloudevent: subject.id: %w", err)
	}
	return []RegistryEvent{ev}, nil
}

// structuredCloudEvent reports whether the body is the whole event
// (structured mode) rather than its data (binary mode, ce-* headers):
// with the CloudEvents content type, or without a ce-specversion header,
// or when the body is itself an event (its own specversion) whatever the
// headers say, as Harbor's "CloudEvents" format is.
func structuredCloudEvent(h http.Header, body []byte) bool {
	if isCloudEventsType(h.Get("Content-Type")) || h.Get("Ce-Specversion") == "" {
		return true
	}
	var top struct {
		SpecVersion *json.RawMessage `json:"specversion"`
	}
	return json.Unmarshal(body, &top) == nil && top.SpecVersion != nil
}

// parseImagePURL reads a package URL of an OCI or Docker image. For
// pkg:oci the repository_url qualifier (host/repository) is required: the
// purl's name is only the last path segment.
func parseImagePURL(purl string) (RegistryEvent, error) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return RegistryEvent{}, fmt.Errorf("%q is not a package URL (pkg:...)", clip(purl))
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, rawQuery, _ := strings.Cut(rest, "?")
	typ, path, ok := strings.Cut(rest, "/")
	if !ok {
		return RegistryEvent{}, fmt.Errorf("%q has no type/name", clip(purl))
	}
	typ = strings.ToLower(typ)
	if typ != "oci" && typ != "docker" {
		return RegistryEvent{}, ignored("artifact of package type %q", clip(typ))
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return RegistryEvent{}, fmt.Errorf("qualifiers of %q: %w", clip(purl), err)
	}
	path, version, _ := strings.Cut(path, "@")
	if version, err = url.PathUnescape(version); err != nil {
		return RegistryEvent{}, fmt.Errorf("version of %q: %w", clip(purl), err)
	}
	if path, err = url.PathUnescape(path); err != nil {
		return RegistryEvent{}, fmt.Errorf("name of %q: %w", clip(purl), err)
	}
	var ref string
	switch repoURL := q.Get("repository_url"); {
	case typ == "oci" && repoURL == "":
		return RegistryEvent{}, fmt.Errorf("pkg:oci %q without the repository_url qualifier", clip(path))
	case typ == "oci":
		ref = repoURL
	case repoURL != "": // pkg:docker/namespace/name?repository_url=host
		ref = strings.TrimSuffix(repoURL, "/") + "/" + path
	default:
		ref = name.DefaultRegistry + "/" + path
	}
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "https://"), "http://")
	ev := RegistryEvent{Tag: q.Get("tag")}
	if ev.Host, ev.Repository, err = imageRepo(ref); err != nil {
		return RegistryEvent{}, fmt.Errorf("repository of %q: %w", clip(purl), err)
	}
	if strings.HasPrefix(version, "sha256:") {
		ev.Digest = version
	} else if ev.Tag == "" {
		ev.Tag = version
	}
	if ev.Tag == "" && ev.Digest == "" {
		return RegistryEvent{}, fmt.Errorf("%q has neither a digest version nor a tag qualifier", clip(purl))
	}
	return ev, nil
}
