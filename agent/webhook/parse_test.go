package webhook

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	realHost    = "127.0.0.1:36695" // the registry the samples were captured from
	imageDigest = "sha256:b01a0917f323f0b82b4c7a7b4fee0b3344c647223772f13d072719979f95e606"
	indexDigest = "sha256:a8ae4158493ca9e73c1238375bf8cbdc01dd7c67fc6cdd0e4a81067af8466f9d"
	childDigest = "sha256:5bd4c2e3e7b2a4c3a1d1b0f7e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2"
	dockerV2    = "application/vnd.docker.distribution.manifest.v2+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
)

func TestParseRegistryNotification(t *testing.T) {
	pushed := RegistryEvent{Host: realHost, Repository: "shop/checkout", Tag: "1.4.2", Digest: imageDigest, MediaType: dockerV2}
	index := RegistryEvent{Host: realHost, Repository: "shop/checkout", Tag: "1.4.3", Digest: indexDigest, MediaType: ociIndex}
	tests := []struct {
		sample string
		want   []RegistryEvent
	}{
		{"registry-manifest-push.json", []RegistryEvent{pushed}},
		{"registry-index-push.json", []RegistryEvent{index}},
		{"registry-blob-push.json", nil},
		{"registry-pull.json", nil},
		{"registry-pull-by-tag.json", nil},
		{"registry-batch.json", []RegistryEvent{pushed, index,
			// no request.host: the host comes from target.url
			{Host: realHost, Repository: "shop/checkout", Digest: childDigest, MediaType: ociManifest}}},
	}
	for _, tt := range tests {
		t.Run(tt.sample, func(t *testing.T) {
			got, err := ParseRegistryNotification(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRegistryNotificationErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", "", "empty body"},
		{"not JSON", "events: []", "bad JSON"},
		{"truncated", `{"events":[{"action":"push"`, "bad JSON"},
		{"trailing data", `{"events":[]} {}`, "data after the JSON value"},
		{"no events", `{}`, `no "events" list`},
		{"events not a list", `{"events":{}}`, "bad JSON"},
		{"push without repository", `{"events":[{"action":"push","target":{"mediaType":"` + dockerV2 + `","tag":"1"}}]}`, "events[0]: push without target.repository"},
		{"push without tag or digest", `{"events":[{"action":"pull"},{"action":"push","target":{"mediaType":"` + dockerV2 + `","repository":"a/b"}}]}`, "events[1]: push of a/b without tag or digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegistryNotification([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, %v; want an error with %q", got, err, tt.want)
			}
		})
	}
}

func TestIsManifest(t *testing.T) {
	tests := []struct {
		mediaType, url, tag string
		want                bool
	}{
		{dockerV2, "", "", true},
		{ociIndex, "", "", true},
		{"application/octet-stream", "http://r/v2/a/blobs/sha256:1", "", false},
		{"application/vnd.oci.image.layer.v1.tar+gzip", "", "", false},
		{"application/vnd.oci.image.config.v1+json", "", "", false},
		{"", "http://r/v2/a/manifests/sha256:1", "", true},
		{"", "http://r/v2/a/blobs/sha256:1", "", false},
		{"application/vnd.example.unknown", "", "v1", true}, // only manifests carry tags
	}
	for _, tt := range tests {
		if got := isManifest(tt.mediaType, tt.url, tt.tag); got != tt.want {
			t.Errorf("isManifest(%q, %q, %q) = %v", tt.mediaType, tt.url, tt.tag, got)
		}
	}
}

func TestParsePush(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want PushEvent
	}{
		{"gitea", readSample(t, "push-gitea.json"), PushEvent{Ref: "refs/heads/main", After: "4f9c2e81d3a7b6c5e4f3a2b1c0d9e8f7a6b5c4d3", Repository: "http://127.0.0.1:3000/platform/fleet.git"}},
		{"github", readSample(t, "push-github.json"), PushEvent{Ref: "refs/heads/main", After: "230f7c8cf6914482d966a1ae16aab01f49cb4983", Repository: "https://github.com/platform/fleet.git"}},
		{"gitlab", readSample(t, "push-gitlab.json"), PushEvent{Ref: "refs/heads/main", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Repository: "https://gitlab.example/platform/fleet.git"}},
		{"gitlab checkout_sha when after is missing", []byte(`{"ref":"refs/heads/main","checkout_sha":"abc","project":{"git_http_url":"https://gl/p.git"}}`),
			PushEvent{Ref: "refs/heads/main", After: "abc", Repository: "https://gl/p.git"}},
		{"html_url last", []byte(`{"ref":"refs/tags/v1","after":"abc","repository":{"html_url":"https://forge/p"}}`),
			PushEvent{Ref: "refs/tags/v1", After: "abc", Repository: "https://forge/p"}},
		{"credentials dropped", []byte(`{"ref":"refs/heads/main","after":"abc","repository":{"clone_url":"https://bot:t0ken@forge/p.git"}}`),
			PushEvent{Ref: "refs/heads/main", After: "abc", Repository: "https://forge/p.git"}},
		{"no repository", []byte(`{"ref":"refs/heads/main","after":"abc"}`), PushEvent{Ref: "refs/heads/main", After: "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePush(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePushErrors(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"github ping", readSample(t, "ping-github.json"), `no "ref"`},
		{"empty", nil, "empty body"},
		{"not JSON", []byte("ref=refs/heads/main"), "bad JSON"},
		{"ref not a string", []byte(`{"ref":1}`), "bad JSON"},
		{"registry envelope", readSample(t, "registry-manifest-push.json"), `no "ref"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePush(tt.body)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %+v, %v; want an error with %q", got, err, tt.want)
			}
		})
	}
}
