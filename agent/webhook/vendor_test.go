package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Sources of the payloads under testdata/vendors (testdata/vendors/README.md
// has the page titles and what each file is).
const (
	docNexus       = "Sonatype, Webhooks: https://help.sonatype.com/en/webhooks.html"
	docHarbor      = "Harbor, Configure Webhook Notifications: https://goharbor.io/docs/2.11.0/working-with-projects/project-configuration/configure-webhooks/"
	docDockerHub   = "Docker Docs, Webhooks: https://docs.docker.com/docker-hub/repos/manage/webhooks/"
	docGitHub      = "GitHub Docs, Webhook events and payloads: https://docs.github.com/en/webhooks/webhook-events-and-payloads"
	docQuay        = "Quay, Repository Notifications: https://docs.quay.io/guides/notifications.html"
	docJFrog       = "JFrog, Webhooks (docker domain): https://jfrog.com/help/r/jfrog-platform-administration-documentation/webhooks"
	docCloudEvents = "CloudEvents HTTP Protocol Binding 1.0.2 and CDEvents artifact published: https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md, https://github.com/cdevents/spec/blob/v0.4.1/continuous-integration.md"
	docGitea       = "Gitea Docs, Webhooks: https://docs.gitea.com/usage/webhooks"
	docGitLab      = "GitLab Docs, Webhook events: https://docs.gitlab.com/user/project/integrations/webhook_events/"
	docBitbucket   = "Bitbucket Cloud, Event payloads: https://support.atlassian.com/bitbucket-cloud/docs/event-payloads/"
	docBitbucketDC = "Bitbucket Data Center, Event payload: https://confluence.atlassian.com/bitbucketserver/event-payload-938025882.html"
)

func vendorSample(t testing.TB, path string) []byte {
	t.Helper()
	return readSample(t, filepath.Join("vendors", path))
}

func hmacHex(h func() hash.Hash, secret string, body []byte) string {
	m := hmac.New(h, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// auth schemes, each as the vendor documents it, computed with secret
// over body.
type authScheme string

const (
	authBearer     authScheme = "bearer"      // ferry's own, Harbor's Auth Header
	authFerrySig   authScheme = "ferry-sig"   // X-Ferry-Signature
	authGitHub     authScheme = "github"      // X-Hub-Signature-256 (and sha1 X-Hub-Signature beside it)
	authHub        authScheme = "hub"         // Bitbucket's X-Hub-Signature: sha256=
	authGitea      authScheme = "gitea"       // X-Gitea-Signature: hex
	authNexus      authScheme = "nexus"       // X-Nexus-Webhook-Signature: hex HMAC-SHA1
	authGitLab     authScheme = "gitlab"      // X-Gitlab-Token
	authJFrogToken authScheme = "jfrog-token" // X-JFrog-Event-Auth: secret
	authJFrogHMAC  authScheme = "jfrog-hmac"  // X-JFrog-Event-Auth: hex HMAC-SHA256
	authPath       authScheme = "path"        // /hooks/registry/<PathToken>
	authNone       authScheme = "none"
)

func authHeaders(s authScheme, secret string, body []byte) map[string]string {
	switch s {
	case authBearer:
		return map[string]string{"Authorization": "Bearer " + secret}
	case authFerrySig:
		return map[string]string{SignatureHeader: sign(secret, body)}
	case authGitHub:
		return map[string]string{GitHubSignatureHeader: sign(secret, body), HubSignatureHeader: "sha1=" + hmacHex(sha1.New, secret, body)}
	case authHub:
		return map[string]string{HubSignatureHeader: "sha256=" + hmacHex(sha256.New, secret, body)}
	case authGitea:
		return map[string]string{GiteaSignatureHeader: hmacHex(sha256.New, secret, body)}
	case authNexus:
		return map[string]string{NexusSignatureHeader: hmacHex(sha1.New, secret, body)}
	case authGitLab:
		return map[string]string{GitLabTokenHeader: secret}
	case authJFrogToken:
		return map[string]string{JFrogAuthHeader: secret}
	case authJFrogHMAC:
		return map[string]string{JFrogAuthHeader: hmacHex(sha256.New, secret, body)}
	}
	return nil
}

type vendorCall struct {
	path    string
	headers map[string]string
	auth    authScheme
	secret  string // the secret the sender uses; testSecret when empty
	signed  []byte // the body the credentials are computed over; the sent body when nil
	body    []byte
}

type vendorResult struct {
	status   int
	body     string
	registry []RegistryEvent
	pushes   []PushEvent
	logs     string
}

func sendVendor(t *testing.T, c vendorCall) vendorResult {
	t.Helper()
	var logs bytes.Buffer
	rc := &recorder{}
	h := New(HandlerOptions{Verifier: NewVerifier(testSecret), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnRegistry: rc.onRegistry, OnPush: rc.onPush})
	srv := httptest.NewServer(h)
	defer srv.Close()
	secret := c.secret
	if secret == "" {
		secret = testSecret
	}
	path := c.path
	if c.auth == authPath {
		path += "/" + PathToken(secret)
	}
	req, err := http.NewRequest("POST", srv.URL+path, bytes.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	signed := c.signed
	if signed == nil {
		signed = c.body
	}
	for k, v := range authHeaders(c.auth, secret, signed) {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	res := vendorResult{status: resp.StatusCode, body: string(msg), pushes: rc.pushes, logs: logs.String()}
	for _, evs := range rc.registry {
		res.registry = append(res.registry, evs...)
	}
	for _, leak := range []string{testSecret, PathToken(testSecret), PathToken(secret)} {
		if strings.Contains(res.logs+res.body, leak) {
			t.Errorf("a secret or the secret path reached a log or a response:\n%s\n%s", res.logs, msg)
		}
	}
	return res
}

const (
	pushedDigest = "sha256:8a9e9863dbb6e10edb5adfe917c00da84e1700fa76e7ed02476aa6e6fb8ee0d8"
	fleetCommit  = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
)

// TestRegistryVendors sends each vendor's documented payload, with the
// vendor's own credentials, to the endpoint the README names for it.
func TestRegistryVendors(t *testing.T) {
	checkout := func(host, tag, digest string) RegistryEvent {
		return RegistryEvent{Host: host, Repository: "shop/checkout", Tag: tag, Digest: digest}
	}
	nexusHdr := func(id string) map[string]string {
		return map[string]string{"X-Nexus-Webhook-Id": id, "X-Nexus-Webhook-Delivery": "7f4b2a9e-3c1d-4e5f-8a6b-9c0d1e2f3a4b"}
	}
	github := func(event string) map[string]string {
		return map[string]string{"X-GitHub-Event": event, "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
	}
	binaryCE := map[string]string{"Content-Type": "application/json", "Ce-Specversion": "1.0", "Ce-Type": "dev.cdevents.artifact.published.0.2.0",
		"Ce-Id": "9a8b7c6d-0000-4000-8000-000000000001", "Ce-Source": "/github-actions/shop/checkout"}
	structuredCE := map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"}
	tests := []struct {
		name, doc string
		call      vendorCall
		want      []RegistryEvent
		status    int    // 202 when want is set, else this
		wantBody  string // in the answer
	}{
		{name: "nexus component created", doc: docNexus,
			call: vendorCall{path: "/hooks/registry", headers: nexusHdr("rm:repository:component"), auth: authNexus, body: vendorSample(t, "nexus/component-created.json")},
			want: []RegistryEvent{{Repository: "shop/checkout", Tag: "1.4.2"}}},
		{name: "nexus asset created", doc: docNexus,
			call: vendorCall{path: "/hooks/registry", headers: nexusHdr("rm:repository:asset"), auth: authNexus, body: vendorSample(t, "nexus/asset-created.json")},
			want: []RegistryEvent{{Repository: "shop/checkout", Tag: "1.4.2"}}},
		{name: "nexus pinned path", doc: docNexus,
			call: vendorCall{path: "/hooks/registry/nexus", headers: nexusHdr("rm:repository:component"), auth: authNexus, body: vendorSample(t, "nexus/component-created.json")},
			want: []RegistryEvent{{Repository: "shop/checkout", Tag: "1.4.2"}}},
		{name: "nexus component deleted is ignored", doc: docNexus, status: 200, wantBody: `"DELETED"`,
			call: vendorCall{path: "/hooks/registry", headers: nexusHdr("rm:repository:component"), auth: authNexus, body: vendorSample(t, "nexus/component-deleted.json")}},
		{name: "nexus maven component is ignored", doc: docNexus, status: 200, wantBody: "maven2",
			call: vendorCall{path: "/hooks/registry", headers: nexusHdr("rm:repository:component"), auth: authNexus, body: vendorSample(t, "nexus/component-maven.json")}},
		{name: "nexus docker component without version", doc: docNexus, status: 400, wantBody: "component.version",
			call: vendorCall{path: "/hooks/registry", headers: nexusHdr("rm:repository:component"), auth: authNexus,
				body: []byte(`{"action":"CREATED","repositoryName":"docker-hosted","component":{"format":"docker","name":"shop/checkout"}}`)}},

		{name: "harbor push, detected from the body", doc: docHarbor,
			call: vendorCall{path: "/hooks/registry", headers: map[string]string{"Content-Type": "application/json"}, auth: authBearer, body: vendorSample(t, "harbor/push-artifact.json")},
			want: []RegistryEvent{checkout("harbor.example.com", "1.4.2", pushedDigest)}},
		{name: "harbor push, pinned path", doc: docHarbor,
			call: vendorCall{path: "/hooks/registry/harbor", auth: authBearer, body: vendorSample(t, "harbor/push-artifact.json")},
			want: []RegistryEvent{checkout("harbor.example.com", "1.4.2", pushedDigest)}},
		{name: "harbor push, CloudEvents payload format", doc: docHarbor,
			call: vendorCall{path: "/hooks/registry", headers: map[string]string{"Content-Type": "application/cloudevents+json"}, auth: authBearer, body: vendorSample(t, "harbor/cloudevents-push-artifact.json")},
			want: []RegistryEvent{checkout("harbor.example.com", "1.4.2", pushedDigest)}},
		{name: "harbor push, CloudEvents payload format, pinned path", doc: docHarbor,
			call: vendorCall{path: "/hooks/registry/harbor", auth: authBearer, body: vendorSample(t, "harbor/cloudevents-push-artifact.json")},
			want: []RegistryEvent{checkout("harbor.example.com", "1.4.2", pushedDigest)}},
		{name: "harbor pull is ignored", doc: docHarbor, status: 200, wantBody: "PULL_ARTIFACT",
			call: vendorCall{path: "/hooks/registry", auth: authBearer, body: vendorSample(t, "harbor/pull-artifact.json")}},
		{name: "harbor push without resource_url", doc: docHarbor, status: 400, wantBody: "resource_url",
			call: vendorCall{path: "/hooks/registry/harbor", auth: authBearer, body: []byte(`{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"tag":"1.4.2"}]}}`)}},

		{name: "docker hub push on the secret path", doc: docDockerHub,
			call: vendorCall{path: "/hooks/registry", auth: authPath, body: vendorSample(t, "dockerhub/push.json")},
			want: []RegistryEvent{{Host: "index.docker.io", Repository: "shopteam/checkout", Tag: "1.4.2"}}},
		{name: "docker hub official image is library/", doc: docDockerHub,
			call: vendorCall{path: "/hooks/registry", auth: authPath, body: []byte(`{"push_data":{"tag":"1.27"},"repository":{"repo_name":"nginx","name":"nginx"}}`)},
			want: []RegistryEvent{{Host: "index.docker.io", Repository: "library/nginx", Tag: "1.27"}}},
		{name: "docker hub push without a tag", doc: docDockerHub, status: 400, wantBody: "push_data.tag",
			call: vendorCall{path: "/hooks/registry", auth: authPath, body: []byte(`{"push_data":{"pusher":"x"},"repository":{"repo_name":"shopteam/checkout"}}`)}},

		{name: "github package published", doc: docGitHub,
			call: vendorCall{path: "/hooks/registry", headers: github("package"), auth: authGitHub, body: vendorSample(t, "ghcr/package-published.json")},
			want: []RegistryEvent{{Host: "ghcr.io", Repository: "shop-org/checkout", Tag: "1.4.2", Digest: pushedDigest}}},
		{name: "github registry_package published", doc: docGitHub,
			call: vendorCall{path: "/hooks/registry", headers: github("registry_package"), auth: authGitHub, body: vendorSample(t, "ghcr/registry-package-published.json")},
			want: []RegistryEvent{{Host: "ghcr.io", Repository: "shop-org/checkout", Tag: "1.4.2", Digest: pushedDigest}}},
		{name: "github ping succeeds", doc: docGitHub, status: 200,
			call: vendorCall{path: "/hooks/registry", headers: github("ping"), auth: authGitHub, body: vendorSample(t, "ghcr/ping.json")}},
		{name: "github npm package is ignored", doc: docGitHub, status: 200, wantBody: "npm",
			call: vendorCall{path: "/hooks/registry/ghcr", headers: github("package"), auth: authGitHub, body: vendorSample(t, "ghcr/package-npm.json")}},
		{name: "github container package without package_version", doc: docGitHub, status: 400, wantBody: "package.package_version",
			call: vendorCall{path: "/hooks/registry", headers: github("package"), auth: authGitHub, body: []byte(`{"action":"published","package":{"name":"checkout","package_type":"CONTAINER"}}`)}},

		{name: "quay push on the secret path", doc: docQuay,
			call: vendorCall{path: "/hooks/registry", auth: authPath, body: vendorSample(t, "quay/repo-push.json")},
			want: []RegistryEvent{{Host: "quay.io", Repository: "shopteam/checkout", Tag: "1.4.2"}, {Host: "quay.io", Repository: "shopteam/checkout", Tag: "latest"}}},
		{name: "quay build notification is ignored", doc: docQuay, status: 200,
			call: vendorCall{path: "/hooks/registry/quay", auth: authBearer, body: vendorSample(t, "quay/build-success.json")}},
		{name: "quay push without updated_tags", doc: docQuay, status: 400, wantBody: "updated_tags",
			call: vendorCall{path: "/hooks/registry/quay", auth: authBearer, body: []byte(`{"repository":"shopteam/checkout","docker_url":"quay.io/shopteam/checkout"}`)}},

		{name: "jfrog docker pushed, secret token", doc: docJFrog,
			call: vendorCall{path: "/hooks/registry", auth: authJFrogToken, body: vendorSample(t, "jfrog/docker-pushed.json")},
			want: []RegistryEvent{{Host: "acme.jfrog.io", Repository: "docker-local/shop/checkout", Tag: "1.4.2"},
				{Host: "docker-local.acme.jfrog.io", Repository: "shop/checkout", Tag: "1.4.2"}, {Repository: "shop/checkout", Tag: "1.4.2"}}},
		{name: "jfrog docker pushed, payload signed", doc: docJFrog,
			call: vendorCall{path: "/hooks/registry", auth: authJFrogHMAC, body: vendorSample(t, "jfrog/docker-pushed.json")},
			want: []RegistryEvent{{Host: "acme.jfrog.io", Repository: "docker-local/shop/checkout", Tag: "1.4.2"},
				{Host: "docker-local.acme.jfrog.io", Repository: "shop/checkout", Tag: "1.4.2"}, {Repository: "shop/checkout", Tag: "1.4.2"}}},
		{name: "jfrog docker deleted is ignored", doc: docJFrog, status: 200, wantBody: "deleted",
			call: vendorCall{path: "/hooks/registry", auth: authJFrogToken, body: vendorSample(t, "jfrog/docker-deleted.json")}},
		{name: "jfrog pushed without a tag", doc: docJFrog, status: 400, wantBody: "data.tag",
			call: vendorCall{path: "/hooks/registry/jfrog", auth: authBearer, body: []byte(`{"domain":"docker","event_type":"pushed","data":{"repo_key":"docker-local","image_name":"shop/checkout"}}`)}},

		{name: "cloudevents structured cdevent", doc: docCloudEvents,
			call: vendorCall{path: "/hooks/registry", headers: structuredCE, auth: authBearer, body: vendorSample(t, "cloudevents/structured-artifact-published.json")},
			want: []RegistryEvent{checkout("registry.example.com:5000", "1.4.2", pushedDigest)}},
		{name: "cloudevents binary cdevent", doc: docCloudEvents,
			call: vendorCall{path: "/hooks/registry", headers: binaryCE, auth: authFerrySig, body: vendorSample(t, "cloudevents/binary-artifact-published.json")},
			want: []RegistryEvent{{Host: "ghcr.io", Repository: "shop-org/checkout", Digest: pushedDigest}}},
		{name: "cloudevents of another type is ignored", doc: docCloudEvents, status: 200, wantBody: "pipelinerun",
			call: vendorCall{path: "/hooks/registry", headers: structuredCE, auth: authBearer, body: vendorSample(t, "cloudevents/structured-pipelinerun-finished.json")}},
		{name: "cdevent purl without repository_url", doc: docCloudEvents, status: 400, wantBody: "repository_url",
			call: vendorCall{path: "/hooks/registry/cloudevents", auth: authBearer,
				body: []byte(`{"specversion":"1.0","type":"dev.cdevents.artifact.published.0.2.0","data":{"subject":{"id":"pkg:oci/checkout@sha256%3A1234"}}}`)}},
		{name: "cloudevents batch is refused, saying why", doc: docCloudEvents, status: 400, wantBody: "one event per request",
			call: vendorCall{path: "/hooks/registry", headers: map[string]string{"Content-Type": "application/cloudevents-batch+json"}, auth: authBearer,
				body: []byte(`[` + string(vendorSample(t, "cloudevents/structured-artifact-published.json")) + `]`)}},
		{name: "cdevent npm artifact is ignored", doc: docCloudEvents, status: 200,
			call: vendorCall{path: "/hooks/registry", auth: authBearer,
				body: []byte(`{"specversion":"1.0","type":"dev.cdevents.artifact.published.0.1.0","data":{"subject":{"id":"pkg:npm/%40shop/ui@2.0.1"}}}`)}},

		{name: "distribution, pinned path", doc: "CNCF distribution notifications (testdata/README.md)",
			call: vendorCall{path: "/hooks/registry/distribution", auth: authBearer, body: readSample(t, "registry-manifest-push.json")},
			want: []RegistryEvent{{Host: realHost, Repository: "shop/checkout", Tag: "1.4.2", Digest: imageDigest, MediaType: dockerV2}}},
		{name: "unknown format", doc: "-", status: 400, wantBody: "not a format ferry knows",
			call: vendorCall{path: "/hooks/registry", auth: authBearer, body: []byte(`{"hello":"world"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVendor(t, tt.doc, tt.call, tt.status, tt.wantBody, tt.want, func(r vendorResult) []RegistryEvent { return r.registry })
		})
	}
}

// checkVendor sends call and checks the answer: 202 and exactly want
// handed on when want is set, else status; the body says wantBody.
func checkVendor[E comparable](t *testing.T, doc string, call vendorCall, status int, wantBody string, want []E, handed func(vendorResult) []E) {
	t.Helper()
	t.Logf("payload shape: %s", doc)
	res := sendVendor(t, call)
	if want != nil {
		status = 202
	}
	if res.status != status {
		t.Fatalf("status %d (%s), want %d\n%s", res.status, res.body, status, res.logs)
	}
	if !strings.Contains(res.body, wantBody) {
		t.Errorf("answer %q does not say %q", res.body, wantBody)
	}
	if got := handed(res); !slices.Equal(got, want) {
		t.Errorf("handed on %+v\nwant %+v", got, want)
	}
}

// TestGitVendors: each forge's documented push, with its own credentials.
func TestGitVendors(t *testing.T) {
	gitea := func(event string) map[string]string {
		// Gitea sends GitHub's and Gogs' event headers too.
		return map[string]string{"X-Gitea-Event": event, "X-Gogs-Event": event, "X-GitHub-Event": event, "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"}
	}
	bbCloud := func(key string) map[string]string {
		return map[string]string{"X-Event-Key": key, "X-Request-UUID": "afe3e9a8-4b72-4bc9-a4ba-b4e6ce7e9a47", "X-Hook-UUID": "cb0e1ee9-2e2b-4ce3-9f9c-8b0a0a46b3b1"}
	}
	bbServer := func(key string) map[string]string {
		return map[string]string{"X-Event-Key": key, "X-Request-Id": "2fb2a4e7-8d1a-4e30-9a1c-8f0b7d0b2c11"}
	}
	tests := []struct {
		name, doc string
		call      vendorCall
		want      []PushEvent
		status    int
		wantBody  string
	}{
		{name: "gitea push", doc: docGitea,
			call: vendorCall{path: "/hooks/git", headers: gitea("push"), auth: authGitea, body: vendorSample(t, "gitea/push.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: "4f9c2e81d3a7b6c5e4f3a2b1c0d9e8f7a6b5c4d3", Repository: "http://127.0.0.1:3000/platform/fleet.git"}}},
		{name: "gitea create is ignored", doc: docGitea, status: 200, wantBody: "create",
			call: vendorCall{path: "/hooks/git", headers: gitea("create"), auth: authGitea, body: vendorSample(t, "gitea/create.json")}},
		{name: "github push", doc: docGitHub,
			call: vendorCall{path: "/hooks/git", headers: map[string]string{"X-GitHub-Event": "push"}, auth: authGitHub, body: vendorSample(t, "github/push.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: "230f7c8cf6914482d966a1ae16aab01f49cb4983", Repository: "https://github.com/platform/fleet.git"}}},
		{name: "github ping succeeds", doc: docGitHub, status: 200,
			call: vendorCall{path: "/hooks/git", headers: map[string]string{"X-GitHub-Event": "ping"}, auth: authGitHub, body: vendorSample(t, "github/ping.json")}},
		{name: "gitlab push hook", doc: docGitLab,
			call: vendorCall{path: "/hooks/git", headers: map[string]string{"X-Gitlab-Event": "Push Hook"}, auth: authGitLab, body: vendorSample(t, "gitlab/push-hook.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", Repository: "https://gitlab.example/platform/fleet.git"}}},
		{name: "gitlab tag push hook", doc: docGitLab,
			call: vendorCall{path: "/hooks/git", headers: map[string]string{"X-Gitlab-Event": "Tag Push Hook"}, auth: authGitLab,
				body: []byte(`{"object_kind":"tag_push","ref":"refs/tags/v1.4.2","after":"` + fleetCommit + `","project":{"git_http_url":"https://gitlab.example/platform/fleet.git"}}`)},
			want: []PushEvent{{Ref: "refs/tags/v1.4.2", After: fleetCommit, Repository: "https://gitlab.example/platform/fleet.git"}}},
		{name: "gitlab merge request is ignored", doc: docGitLab, status: 200, wantBody: "Merge Request Hook",
			call: vendorCall{path: "/hooks/git/gitlab", headers: map[string]string{"X-Gitlab-Event": "Merge Request Hook"}, auth: authGitLab, body: vendorSample(t, "gitlab/merge-request.json")}},
		{name: "bitbucket cloud push", doc: docBitbucket,
			call: vendorCall{path: "/hooks/git", headers: bbCloud("repo:push"), auth: authHub, body: vendorSample(t, "bitbucket/repo-push.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: fleetCommit, Repository: "https://bitbucket.org/shopteam/fleet"},
				{Ref: "refs/heads/promote/checkout-1.4.1", After: zeroCommit, Repository: "https://bitbucket.org/shopteam/fleet"}}},
		{name: "bitbucket cloud pull request is ignored", doc: docBitbucket, status: 200,
			call: vendorCall{path: "/hooks/git", headers: bbCloud("pullrequest:created"), auth: authHub, body: vendorSample(t, "bitbucket/pullrequest-created.json")}},
		{name: "bitbucket cloud push without target.hash", doc: docBitbucket, status: 400, wantBody: "new.target.hash",
			call: vendorCall{path: "/hooks/git/bitbucket", auth: authHub, body: []byte(`{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{}}}]}}`)}},
		{name: "bitbucket server refs changed", doc: docBitbucketDC,
			call: vendorCall{path: "/hooks/git", headers: bbServer("repo:refs_changed"), auth: authHub, body: vendorSample(t, "bitbucket-server/refs-changed.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: fleetCommit, Repository: "https://bitbucket.example.com/scm/ops/fleet.git"}}},
		{name: "bitbucket server post service refChanges", doc: docBitbucketDC,
			call: vendorCall{path: "/hooks/git/bitbucket-server", auth: authBearer, body: vendorSample(t, "bitbucket-server/post-service-refchanges.json")},
			want: []PushEvent{{Ref: "refs/heads/main", After: fleetCommit, Repository: "OPS/fleet"}}},
		{name: "bitbucket server ping succeeds", doc: docBitbucketDC, status: 200,
			call: vendorCall{path: "/hooks/git", headers: bbServer("diagnostics:ping"), auth: authHub, body: vendorSample(t, "bitbucket-server/diagnostics-ping.json")}},
		{name: "bitbucket server change without toHash", doc: docBitbucketDC, status: 400, wantBody: "toHash",
			call: vendorCall{path: "/hooks/git", headers: bbServer("repo:refs_changed"), auth: authHub, body: []byte(`{"changes":[{"refId":"refs/heads/main"}]}`)}},
		{name: "unknown forge", doc: "-", status: 404,
			call: vendorCall{path: "/hooks/git/sourcehut", auth: authBearer, body: vendorSample(t, "github/push.json")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVendor(t, tt.doc, tt.call, tt.status, tt.wantBody, tt.want, func(r vendorResult) []PushEvent { return r.pushes })
		})
	}
}

// TestVendorAuth: every vendor's credential, right, with the wrong
// secret, missing, and (for signatures) another body's signature replayed.
func TestVendorAuth(t *testing.T) {
	nexus := map[string]string{"X-Nexus-Webhook-Id": "rm:repository:component"}
	schemes := []struct {
		name    string
		auth    authScheme
		path    string
		headers map[string]string
		body    []byte
		signs   bool // the credential covers the body
	}{
		{"nexus X-Nexus-Webhook-Signature", authNexus, "/hooks/registry", nexus, vendorSample(t, "nexus/component-created.json"), true},
		{"harbor Authorization", authBearer, "/hooks/registry", nil, vendorSample(t, "harbor/push-artifact.json"), false},
		{"docker hub secret path", authPath, "/hooks/registry", nil, vendorSample(t, "dockerhub/push.json"), false},
		{"quay secret path", authPath, "/hooks/registry", nil, vendorSample(t, "quay/repo-push.json"), false},
		{"ghcr X-Hub-Signature-256", authGitHub, "/hooks/registry", map[string]string{"X-GitHub-Event": "package"}, vendorSample(t, "ghcr/package-published.json"), true},
		{"jfrog X-JFrog-Event-Auth token", authJFrogToken, "/hooks/registry", nil, vendorSample(t, "jfrog/docker-pushed.json"), false},
		{"jfrog X-JFrog-Event-Auth signature", authJFrogHMAC, "/hooks/registry", nil, vendorSample(t, "jfrog/docker-pushed.json"), true},
		{"cloudevents X-Ferry-Signature", authFerrySig, "/hooks/registry", map[string]string{"Content-Type": "application/cloudevents+json"}, vendorSample(t, "cloudevents/structured-artifact-published.json"), true},
		{"gitea X-Gitea-Signature", authGitea, "/hooks/git", map[string]string{"X-Gitea-Event": "push"}, vendorSample(t, "gitea/push.json"), true},
		{"github X-Hub-Signature-256", authGitHub, "/hooks/git", map[string]string{"X-GitHub-Event": "push"}, vendorSample(t, "github/push.json"), true},
		{"gitlab X-Gitlab-Token", authGitLab, "/hooks/git", map[string]string{"X-Gitlab-Event": "Push Hook"}, vendorSample(t, "gitlab/push-hook.json"), false},
		{"bitbucket X-Hub-Signature", authHub, "/hooks/git", map[string]string{"X-Event-Key": "repo:push"}, vendorSample(t, "bitbucket/repo-push.json"), true},
		{"bitbucket server X-Hub-Signature", authHub, "/hooks/git", map[string]string{"X-Event-Key": "repo:refs_changed", "X-Request-Id": "1"}, vendorSample(t, "bitbucket-server/refs-changed.json"), true},
	}
	other := []byte(`{"events":[]}`)
	for _, s := range schemes {
		cases := []struct {
			name   string
			call   vendorCall
			status int
		}{
			{"right secret", vendorCall{auth: s.auth}, 202},
			{"wrong secret", vendorCall{auth: s.auth, secret: "guess-" + testSecret}, 401},
			{"missing", vendorCall{auth: authNone}, 401},
		}
		if s.signs {
			cases = append(cases, struct {
				name   string
				call   vendorCall
				status int
			}{"another body's signature", vendorCall{auth: s.auth, signed: other}, 401})
		}
		for _, c := range cases {
			t.Run(s.name+"/"+c.name, func(t *testing.T) {
				c.call.path, c.call.headers, c.call.body = s.path, s.headers, s.body
				res := sendVendor(t, c.call)
				if res.status != c.status {
					t.Fatalf("status %d (%s), want %d", res.status, res.body, c.status)
				}
				if c.status != 202 && (len(res.registry) > 0 || len(res.pushes) > 0) {
					t.Errorf("a refused call was handed on")
				}
			})
		}
	}
}

// TestVerifyVendorHeaders pins each header's format against the verifier
// alone, including the forms it must refuse.
func TestVerifyVendorHeaders(t *testing.T) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	sha256Hex, sha1Hex := hmacHex(sha256.New, testSecret, body), hmacHex(sha1.New, testSecret, body)
	tests := []struct {
		name    string
		headers map[string]string
		want    error
	}{
		{"gitea hex", map[string]string{GiteaSignatureHeader: sha256Hex}, nil},
		{"gitea hex beside GitHub's sha1", map[string]string{GiteaSignatureHeader: sha256Hex, HubSignatureHeader: "sha1=" + sha1Hex}, nil},
		{"gitea truncated", map[string]string{GiteaSignatureHeader: sha256Hex[:40]}, ErrBadSignature},
		{"nexus sha1 hex", map[string]string{NexusSignatureHeader: sha1Hex}, nil},
		{"nexus given a sha256", map[string]string{NexusSignatureHeader: sha256Hex}, ErrBadSignature},
		{"bitbucket sha256=", map[string]string{HubSignatureHeader: "sha256=" + sha256Hex}, nil},
		{"X-Hub-Signature sha1 alone is refused", map[string]string{HubSignatureHeader: "sha1=" + sha1Hex}, ErrBadSignature},
		{"gitlab token", map[string]string{GitLabTokenHeader: testSecret}, nil},
		{"gitlab wrong token", map[string]string{GitLabTokenHeader: "guess"}, ErrBadToken},
		{"gitlab token as a prefix", map[string]string{GitLabTokenHeader: testSecret + "x"}, ErrBadToken},
		{"jfrog token", map[string]string{JFrogAuthHeader: testSecret}, nil},
		{"jfrog signature", map[string]string{JFrogAuthHeader: sha256Hex}, nil},
		{"jfrog wrong token", map[string]string{JFrogAuthHeader: "guess"}, ErrBadToken},
		{"jfrog wrong signature", map[string]string{JFrogAuthHeader: hmacHex(sha256.New, "guess", body)}, ErrBadSignature},
		{"wrong bearer, right gitlab token", map[string]string{"Authorization": "Basic eDp5", GitLabTokenHeader: testSecret}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hooks/git", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			err := NewVerifier(testSecret).Verify(r, body)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// TestSecretPath: the path is derived from the secret as documented, a
// wrong one is refused before the body is read, and neither reaches a log.
func TestSecretPath(t *testing.T) {
	// The README's formula, for a one-line secret (cmd/ferry's TestWebhookPathMatchesREADMEFormula runs it).
	sum := sha256.Sum256([]byte("ferry-webhook-path:" + testSecret))
	if got := PathToken(testSecret); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("PathToken = %s", got)
	}
	if NewVerifier("").CheckPath(PathToken("")) {
		t.Fatal("an empty secret has a secret path")
	}
	body := vendorSample(t, "dockerhub/push.json")
	res := sendVendor(t, vendorCall{path: "/hooks/registry", auth: authPath, secret: "guess", body: body})
	if res.status != 401 || len(res.registry) != 0 {
		t.Fatalf("wrong secret path: %d %s", res.status, res.body)
	}
	if !strings.Contains(res.logs, "<secret path>") {
		t.Errorf("refusal not logged with the path left out:\n%s", res.logs)
	}
	// The secret path is for /hooks/registry only.
	res = sendVendor(t, vendorCall{path: "/hooks/git/" + PathToken(testSecret), body: vendorSample(t, "github/push.json")})
	if res.status != 404 {
		t.Fatalf("secret path on /hooks/git: %d %s", res.status, res.body)
	}
}
