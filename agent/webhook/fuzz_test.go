package webhook

import (
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
