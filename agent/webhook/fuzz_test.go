package webhook

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

func addSamples(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseRegistryNotification: never panics; every event handed on names
// a repository and a tag or digest.
func FuzzParseRegistryNotification(f *testing.F) {
	addSamples(f, "registry-*.json")
	f.Add([]byte(`{"events":[{"action":"push","target":{"repository":"a","url":"http://h/v2/a/manifests/x","digest":"sha256:1"}}]}`))
	f.Add([]byte(`{"events":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseRegistryNotification(body)
		if err != nil {
			return
		}
		for _, ev := range evs {
			if ev.Repository == "" || ev.Tag == "" && ev.Digest == "" {
				t.Fatalf("incomplete event %+v", ev)
			}
		}
	})
}

// FuzzParsePush: never panics; an accepted event has a ref and a repository
// URL without credentials.
func FuzzParsePush(f *testing.F) {
	addSamples(f, "*push-*.json")
	addSamples(f, "ping-*.json")
	f.Add([]byte(`{"ref":"refs/heads/main","repository":{"clone_url":"https://u:p@h/r.git"}}`))
	f.Add([]byte(`{"ref":"x","repository":{"clone_url":"%zz"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParsePush(body)
		if err != nil {
			return
		}
		if ev.Ref == "" {
			t.Fatalf("accepted without a ref: %+v", ev)
		}
		if ev.Repository != "" {
			if u, err := url.Parse(ev.Repository); err != nil || u.User != nil {
				t.Fatalf("repository %q keeps credentials or does not parse", ev.Repository)
			}
		}
	})
}

// FuzzVendors runs every vendor's parser (and detection) over the same
// input: never a panic; a registry event names a repository and a tag or
// digest; a push names a ref and a commit, and its repository URL keeps
// no credentials.
func FuzzVendors(f *testing.F) {
	addSamples(f, "vendors/*/*.json")
	f.Add([]byte(`{"specversion":"1.0","type":"dev.cdevents.artifact.published.0.2.0","data":{"subject":{"id":"pkg:docker/a/b@sha256%3A1?repository_url=h:1"}}}`))
	f.Add([]byte(`{"push":{"changes":[{"new":null,"old":{"name":"x","type":"tag"}}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := http.Header{}
		for _, vendor := range append([]string{""}, RegistryVendors...) {
			evs, err := ParseRegistry(vendor, h, body)
			if err != nil {
				continue
			}
			for _, ev := range evs {
				if ev.Repository == "" || ev.Tag == "" && ev.Digest == "" {
					t.Fatalf("%s: incomplete event %+v", vendor, ev)
				}
			}
		}
		h.Set("Ce-Specversion", "1.0")
		h.Set("Ce-Type", CDEventArtifactPublished+"0.2.0")
		if evs, err := ParseCloudEvent(h, body); err == nil && len(evs) != 1 {
			t.Fatalf("binary cloudevent: %d events", len(evs))
		}
		for _, forge := range append([]string{""}, Forges...) {
			evs, err := ParseGitPush(forge, http.Header{}, body)
			if err != nil {
				continue
			}
			for _, ev := range evs {
				if ev.Ref == "" || forge != "" && ev.After == "" {
					t.Fatalf("%s: incomplete push %+v", forge, ev)
				}
				if u, err := url.Parse(ev.Repository); ev.Repository != "" && (err != nil || u.User != nil) {
					t.Fatalf("%s: repository %q keeps credentials", forge, ev.Repository)
				}
			}
		}
	})
}
