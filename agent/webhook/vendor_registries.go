// The registries' own notification formats: Nexus, Harbor, Docker Hub,
// GitHub Packages, Quay and JFrog Artifactory, each reduced to
// RegistryEvents.

package webhook

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ParseNexus reads a Sonatype Nexus Repository webhook: the repository
// component event (X-Nexus-Webhook-Id: rm:repository:component) for a
// docker component CREATED or UPDATED, whose name is the image repository
// and version the tag, or the asset event (rm:repository:asset) for a
// manifest, v2/<repository>/manifests/<tag or digest>. Nexus does not say
// which host its docker connector serves, so Host is empty and the event
// matches the one app with that repository.
func ParseNexus(webhookID string, body []byte) ([]RegistryEvent, error) {
	var p struct {
		Action    string `json:"action"`
		Component *struct {
			Format  string `json:"format"`
			Name    string `json:"name"`
			Group   string `json:"group"`
			Version string `json:"version"`
		} `json:"component"`
		Asset *struct {
			Format string `json:"format"`
			Name   string `json:"name"`
		} `json:"asset"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("nexus webhook: %w", err)
	}
	if p.Action != "CREATED" && p.Action != "UPDATED" {
		return nil, ignored("nexus %s action %q", webhookID, p.Action)
	}
	switch {
	case p.Component != nil:
		c := p.Component
		if !strings.EqualFold(c.Format, "docker") {
			return nil, ignored("nexus component of format %q", c.Format)
		}
		if c.Name == "" {
			return nil, errors.New("nexus webhook: docker component without component.name")
		}
		if c.Version == "" {
			return nil, fmt.Errorf("nexus webhook: docker component %s without component.version", c.Name)
		}
		ev := RegistryEvent{Repository: c.Name, Tag: c.Version}
		if strings.HasPrefix(c.Version, "sha256:") {
			ev.Tag, ev.Digest = "", c.Version
		}
		return []RegistryEvent{ev}, nil
	case p.Asset != nil:
		a := p.Asset
		if !strings.EqualFold(a.Format, "docker") {
			return nil, ignored("nexus asset of format %q", a.Format)
		}
		repo, ref, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a.Name, "/"), "v2/"), "/manifests/")
		if !ok {
			return nil, ignored("nexus asset %q is not a manifest", clip(a.Name))
		}
		if repo == "" || ref == "" {
			return nil, fmt.Errorf("nexus webhook: asset.name %q names no repository or tag", clip(a.Name))
		}
		ev := RegistryEvent{Repository: repo, Tag: ref}
		if strings.HasPrefix(ref, "sha256:") {
			ev.Tag, ev.Digest = "", ref
		}
		return []RegistryEvent{ev}, nil
	}
	return nil, errors.New("nexus webhook: neither component nor asset")
}

// ParseHarbor reads a Harbor webhook (HTTP, "Default" payload format). Only
// PUSH_ARTIFACT is a push; each resource's resource_url
// (harbor.example/project/repo:tag) gives the host and repository.
func ParseHarbor(body []byte) ([]RegistryEvent, error) {
	var p struct {
		Type      string `json:"type"`
		EventData *struct {
			Resources []struct {
				Digest      string `json:"digest"`
				Tag         string `json:"tag"`
				ResourceURL string `json:"resource_url"`
			} `json:"resources"`
		} `json:"event_data"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("harbor webhook: %w", err)
	}
	if p.Type != "PUSH_ARTIFACT" {
		return nil, ignored("harbor event %q", p.Type)
	}
	if p.EventData == nil || len(p.EventData.Resources) == 0 {
		return nil, errors.New("harbor webhook: PUSH_ARTIFACT without event_data.resources")
	}
	var out []RegistryEvent
	for i, r := range p.EventData.Resources {
		if r.ResourceURL == "" {
			return nil, fmt.Errorf("harbor webhook: event_data.resources[%d]: no resource_url", i)
		}
		host, repo, err := imageRepo(r.ResourceURL)
		if err != nil {
			return nil, fmt.Errorf("harbor webhook: event_data.resources[%d].resource_url: %w", i, err)
		}
		if r.Tag == "" && r.Digest == "" {
			return nil, fmt.Errorf("harbor webhook: event_data.resources[%d]: push of %s without tag or digest", i, repo)
		}
		out = append(out, RegistryEvent{Host: host, Repository: repo, Tag: r.Tag, Digest: r.Digest})
	}
	return out, nil
}

// ParseDockerHub reads a Docker Hub repository webhook: every one is a
// push of push_data.tag to repository.repo_name (namespace/name) on
// index.docker.io. Docker Hub sends no digest.
func ParseDockerHub(body []byte) ([]RegistryEvent, error) {
	var p struct {
		PushData *struct {
			Tag string `json:"tag"`
		} `json:"push_data"`
		Repository *struct {
			RepoName  string `json:"repo_name"`
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"repository"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("docker hub webhook: %w", err)
	}
	if p.PushData == nil || p.PushData.Tag == "" {
		return nil, errors.New("docker hub webhook: no push_data.tag")
	}
	if p.Repository == nil {
		return nil, errors.New("docker hub webhook: no repository")
	}
	full := p.Repository.RepoName
	if full == "" && p.Repository.Name != "" {
		full = strings.Trim(p.Repository.Namespace+"/"+p.Repository.Name, "/")
	}
	if full == "" {
		return nil, errors.New("docker hub webhook: no repository.repo_name")
	}
	host, repo, err := imageRepo(name.DefaultRegistry + "/" + full)
	if err != nil {
		return nil, fmt.Errorf("docker hub webhook: repository.repo_name: %w", err)
	}
	return []RegistryEvent{{Host: host, Repository: repo, Tag: p.PushData.Tag}}, nil
}

// ParseGitHubPackage reads GitHub's package and registry_package events
// (X-GitHub-Event) for a container published or updated on ghcr.io: the
// host and repository come from package_version.package_url
// (ghcr.io/owner/name:tag), else from registry.url and owner/name. ping
// and other events, actions and package types are ignored.
func ParseGitHubPackage(event string, body []byte) ([]RegistryEvent, error) {
	if event != "" && event != "package" && event != "registry_package" {
		return nil, ignored("github event %q", event)
	}
	type pkg struct {
		Name           string                 `json:"name"`
		Namespace      string                 `json:"namespace"`
		PackageType    string                 `json:"package_type"`
		Owner          struct{ Login string } `json:"owner"`
		PackageVersion *struct {
			Version           string `json:"version"`
			PackageURL        string `json:"package_url"`
			ContainerMetadata *struct {
				Tag struct {
					Name   string `json:"name"`
					Digest string `json:"digest"`
				} `json:"tag"`
			} `json:"container_metadata"`
		} `json:"package_version"`
		Registry *struct {
			URL string `json:"url"`
		} `json:"registry"`
	}
	var p struct {
		Action          string `json:"action"`
		Zen             string `json:"zen"` // ping
		Package         *pkg   `json:"package"`
		RegistryPackage *pkg   `json:"registry_package"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("github package event: %w", err)
	}
	field, k := "package", p.Package
	if k == nil {
		field, k = "registry_package", p.RegistryPackage
	}
	if k == nil {
		if p.Zen != "" || event != "" {
			return nil, ignored("github event without a package")
		}
		return nil, errors.New(`github package event: no "package" or "registry_package"`)
	}
	if p.Action != "published" && p.Action != "updated" {
		return nil, ignored("github package action %q", p.Action)
	}
	if !strings.EqualFold(k.PackageType, "container") && !strings.EqualFold(k.PackageType, "docker") {
		return nil, ignored("github package of type %q", k.PackageType)
	}
	v := k.PackageVersion
	if v == nil {
		return nil, fmt.Errorf("github package event: no %s.package_version", field)
	}
	var ev RegistryEvent
	if cm := v.ContainerMetadata; cm != nil {
		ev.Tag, ev.Digest = cm.Tag.Name, cm.Tag.Digest
	}
	if ev.Digest == "" && strings.HasPrefix(v.Version, "sha256:") {
		ev.Digest = v.Version
	}
	ref := v.PackageURL
	if ref == "" && k.Registry != nil && k.Name != "" {
		if u, err := url.Parse(k.Registry.URL); err == nil && u.Host != "" {
			owner := k.Owner.Login
			if owner == "" {
				owner = k.Namespace
			}
			ref = u.Host + "/" + owner + "/" + k.Name
		}
	}
	if ref == "" {
		return nil, fmt.Errorf("github package event: no %s.package_version.package_url", field)
	}
	var err error
	if ev.Host, ev.Repository, err = imageRepo(ref); err != nil {
		return nil, fmt.Errorf("github package event: %s.package_version.package_url: %w", field, err)
	}
	if ev.Tag == "" && ev.Digest == "" {
		return nil, fmt.Errorf("github package event: push of %s without container_metadata.tag or a sha256 version", ev.Repository)
	}
	return []RegistryEvent{ev}, nil
}

// ParseQuay reads a Quay "Push to Repository" notification: one event per
// updated tag of docker_url (quay.io/namespace/name). Quay's other
// notifications (builds, vulnerabilities) are ignored.
func ParseQuay(body []byte) ([]RegistryEvent, error) {
	var p struct {
		Repository    string    `json:"repository"`
		DockerURL     string    `json:"docker_url"`
		UpdatedTags   *[]string `json:"updated_tags"`
		BuildID       string    `json:"build_id"`
		Vulnerability *struct{} `json:"vulnerability"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("quay notification: %w", err)
	}
	if p.BuildID != "" || p.Vulnerability != nil {
		return nil, ignored("quay build or vulnerability notification")
	}
	if p.UpdatedTags == nil {
		return nil, errors.New("quay notification: no updated_tags")
	}
	ref := p.DockerURL
	if ref == "" {
		return nil, errors.New("quay notification: no docker_url")
	}
	host, repo, err := imageRepo(ref)
	if err != nil {
		return nil, fmt.Errorf("quay notification: docker_url: %w", err)
	}
	var out []RegistryEvent
	for _, tag := range *p.UpdatedTags {
		if tag != "" {
			out = append(out, RegistryEvent{Host: host, Repository: repo, Tag: tag})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("quay notification: push of %s with empty updated_tags", repo)
	}
	return out, nil
}

// ParseJFrog reads a JFrog Artifactory webhook: only the docker domain's
// "pushed" event is a push. An image in Artifactory is addressed as
// host/<repo_key>/<image> (repository path), <repo_key>.host/<image>
// (subdomain) or host:port/<image> (port method); ferry cannot tell which
// the apps use, so it hands on one event for each of the first two, and
// the image alone (host empty) matches the one app with that repository.
func ParseJFrog(body []byte) ([]RegistryEvent, error) {
	var p struct {
		Domain    string `json:"domain"`
		EventType string `json:"event_type"`
		Origin    string `json:"jpd_origin"`
		Data      *struct {
			RepoKey   string `json:"repo_key"`
			Path      string `json:"path"`
			ImageName string `json:"image_name"`
			Tag       string `json:"tag"`
			SHA256    string `json:"sha256"`
		} `json:"data"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return nil, fmt.Errorf("jfrog webhook: %w", err)
	}
	if p.Domain != "docker" || p.EventType != "pushed" {
		return nil, ignored("jfrog %s event %q", p.Domain, p.EventType)
	}
	d := p.Data
	if d == nil {
		return nil, errors.New("jfrog webhook: docker pushed event without data")
	}
	if d.RepoKey == "" {
		return nil, errors.New("jfrog webhook: no data.repo_key")
	}
	// data.path is <image path>/<tag>/manifest.json; image_name may hold
	// only the last part of a nested image.
	image := d.ImageName
	if parts := strings.Split(strings.Trim(d.Path, "/"), "/"); len(parts) > 2 {
		image = strings.Join(parts[:len(parts)-2], "/")
	}
	if image == "" {
		return nil, errors.New("jfrog webhook: no data.image_name or data.path")
	}
	if d.Tag == "" {
		return nil, fmt.Errorf("jfrog webhook: push of %s without data.tag", image)
	}
	// data.sha256 is the manifest file's checksum, which is the digest of
	// a manifest pushed as-is; it is kept only as a hint, never trusted.
	host := ""
	if u, err := url.Parse(p.Origin); err == nil {
		host = u.Host
	}
	var out []RegistryEvent
	if host != "" {
		for _, ref := range []string{host + "/" + d.RepoKey + "/" + image, d.RepoKey + "." + host + "/" + image} {
			if h, r, err := imageRepo(ref); err == nil {
				out = append(out, RegistryEvent{Host: h, Repository: r, Tag: d.Tag})
			}
		}
	}
	out = append(out, RegistryEvent{Repository: strings.ToLower(image), Tag: d.Tag})
	return out, nil
}
