package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Registry vendors /hooks/registry understands; each is also a path,
// /hooks/registry/<vendor>, that pins the parser instead of detecting it.
const (
	VendorDistribution = "distribution" // CNCF distribution (docker-registry, Zot, ACR, ...)
	VendorNexus        = "nexus"        // Sonatype Nexus Repository
	VendorHarbor       = "harbor"
	VendorDockerHub    = "dockerhub"
	VendorGHCR         = "ghcr" // GitHub Packages (package / registry_package events)
	VendorQuay         = "quay"
	VendorJFrog        = "jfrog" // JFrog Artifactory
	VendorCloudEvents  = "cloudevents"
)

// RegistryVendors lists the registry vendors, in the order they are
// detected.
var RegistryVendors = []string{VendorNexus, VendorGHCR, VendorCloudEvents, VendorJFrog, VendorDistribution, VendorHarbor, VendorQuay, VendorDockerHub}

// ErrIgnored is returned (wrapped) for a well-formed call that is not a push
// ferry acts on: a ping, a delete, a pull, another package format. The
// handler answers it with 200 so the vendor shows the delivery as good.
var ErrIgnored = errors.New("not a push: ignored")

func ignored(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrIgnored, fmt.Sprintf(format, a...))
}

// DetectRegistryVendor names the sender of a registry notification: from
// the headers the vendor documents (X-Nexus-Webhook-Id, X-GitHub-Event,
// ce-specversion or a CloudEvents content type, X-JFrog-Event-Auth), else
// from the body's shape for the vendors that send no such header. "" when
// nothing matches.
func DetectRegistryVendor(h http.Header, body []byte) string {
	switch {
	case h.Get("X-Nexus-Webhook-Id") != "":
		return VendorNexus
	case h.Get("X-GitHub-Event") != "":
		return VendorGHCR
	case h.Get("Ce-Specversion") != "" || isCloudEventsType(h.Get("Content-Type")):
		return VendorCloudEvents
	case h.Get(JFrogAuthHeader) != "":
		return VendorJFrog
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == NotificationMediaType {
		return VendorDistribution
	}
	var top map[string]json.RawMessage
	if decodeJSON(body, &top) != nil {
		return ""
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("specversion"):
		return VendorCloudEvents
	case has("domain") && has("event_type"):
		return VendorJFrog
	case has("events"):
		return VendorDistribution
	case has("event_data") && has("type"):
		return VendorHarbor
	case has("updated_tags") || has("docker_url"):
		return VendorQuay // before push_data: Docker Hub sends neither
	case has("push_data"):
		return VendorDockerHub
	}
	return ""
}

func isCloudEventsType(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return strings.HasPrefix(mt, "application/cloudevents")
}

// ParseRegistry parses a registry notification from vendor ("" detects
// it, see DetectRegistryVendor). A notification that is not a push
// returns an error wrapping ErrIgnored; a push missing what ferry needs
// returns an error naming the field.
func ParseRegistry(vendor string, h http.Header, body []byte) ([]RegistryEvent, error) {
	if vendor == "" {
		vendor = DetectRegistryVendor(h, body)
	}
	switch vendor {
	case VendorDistribution:
		return ParseRegistryNotification(body)
	case VendorNexus:
		return ParseNexus(h.Get("X-Nexus-Webhook-Id"), body)
	case VendorHarbor:
		if DetectRegistryVendor(h, body) == VendorCloudEvents { // its "CloudEvents" payload format
			return ParseCloudEvent(h, body)
		}
		return ParseHarbor(body)
	case VendorDockerHub:
		return ParseDockerHub(body)
	case VendorGHCR:
		return ParseGitHubPackage(h.Get("X-GitHub-Event"), body)
	case VendorQuay:
		return ParseQuay(body)
	case VendorJFrog:
		return ParseJFrog(body)
	case VendorCloudEvents:
		return ParseCloudEvent(h, body)
	case "":
		if err := decodeJSON(body, new(json.RawMessage)); err != nil {
			return nil, fmt.Errorf("registry notification: %w", err)
		}
		return nil, fmt.Errorf("registry notification: not a format ferry knows (%s); name the vendor in the path, /hooks/registry/<vendor>", strings.Join(RegistryVendors, ", "))
	}
	return nil, fmt.Errorf("registry notification: unknown vendor %q", vendor)
}

// imageRepo normalises an image reference or repository (host/path[:tag]
// [@digest], or path alone for Docker Hub) to the host and repository
// ferry matches apps on, as go-containerregistry names them: docker.io is
// index.docker.io, and an official image is library/NAME.
func imageRepo(ref string) (host, repo string, err error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	// A tag is after the last colon that follows the last slash (a colon
	// before it is a port).
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	r, err := name.NewRepository(ref, name.WeakValidation)
	if err != nil {
		return "", "", err
	}
	return r.RegistryStr(), r.RepositoryStr(), nil
}
