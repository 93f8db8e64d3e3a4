package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// NotificationMediaType is the Content-Type of a distribution registry's
// notification envelope.
const NotificationMediaType = "application/vnd.docker.distribution.events.v1+json"

// RegistryEvent is one pushed manifest: a new tag, or a new digest.
type RegistryEvent struct {
	Host       string // registry host[:port] as the pusher addressed it; may be empty
	Repository string // shop/checkout
	Tag        string // empty for a push by digest
	Digest     string // sha256:...
	MediaType  string // the manifest's media type
}

// envelope is the CNCF distribution notification format; only the fields
// ferry reads are decoded, unknown ones are ignored as the format grows.
type envelope struct {
	Events *[]struct {
		Action string `json:"action"`
		Target struct {
			MediaType  string `json:"mediaType"`
			Digest     string `json:"digest"`
			Repository string `json:"repository"`
			URL        string `json:"url"`
			Tag        string `json:"tag"`
		} `json:"target"`
		Request struct {
			Host string `json:"host"`
		} `json:"request"`
	} `json:"events"`
}

// manifestTypes are what a registry stores under /manifests/; anything
// else pushed (layers, configs: application/octet-stream) is a blob.
var manifestTypes = map[string]bool{
	"application/vnd.docker.distribution.manifest.v1+json":      true,
	"application/vnd.docker.distribution.manifest.v1+prettyjws": true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
	"application/vnd.oci.image.manifest.v1+json":                true,
	"application/vnd.oci.image.index.v1+json":                   true,
	"application/vnd.oci.artifact.manifest.v1+json":             true,
}

// ParseRegistryNotification returns the manifest pushes of an envelope, in
// order. Pulls, deletes and blob pushes are skipped; a push without a
// repository or without both tag and digest is an error naming the event.
func ParseRegistryNotification(body []byte) ([]RegistryEvent, error) {
	var env envelope
	if err := decodeJSON(body, &env); err != nil {
		return nil, fmt.Errorf("registry notification: %w", err)
	}
	if env.Events == nil {
		return nil, errors.New(`registry notification: no "events" list`)
	}
	var out []RegistryEvent
	for i, ev := range *env.Events {
		t := ev.Target
		if ev.Action != "push" || !isManifest(t.MediaType, t.URL, t.Tag) {
			continue
		}
		if t.Repository == "" {
			return nil, fmt.Errorf("registry notification: events[%d]: push without target.repository", i)
		}
		if t.Tag == "" && t.Digest == "" {
			return nil, fmt.Errorf("registry notification: events[%d]: push of %s without tag or digest", i, t.Repository)
		}
		host := ev.Request.Host
		if host == "" {
			if u, err := url.Parse(t.URL); err == nil {
				host = u.Host
			}
		}
		out = append(out, RegistryEvent{Host: host, Repository: t.Repository, Tag: t.Tag, Digest: t.Digest, MediaType: t.MediaType})
	}
	return out, nil
}

// isManifest tells a manifest push from a blob push. A tag only exists on
// manifests; otherwise the media type, or failing that the URL, decides.
func isManifest(mediaType, rawURL, tag string) bool {
	if tag != "" || manifestTypes[mediaType] {
		return true
	}
	if mediaType == "" {
		return strings.Contains(rawURL, "/manifests/")
	}
	return false
}

// decodeJSON decodes one JSON value and refuses trailing data.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("empty body, want JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		// Named by field, position and JSON type, never by Go type.
		if located := locateJSON(body, err); located != err {
			return located
		}
		return fmt.Errorf("bad JSON: %w", err)
	}
	if dec.More() {
		return errors.New("bad JSON: data after the JSON value")
	}
	return nil
}
