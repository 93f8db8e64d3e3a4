package webhook

import (
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
)

// TestFormEncodedRefused: GitHub's and Gitea's "form" content type
// (payload=<urlencoded JSON>; GitHub signs the form, Gitea the JSON in
// it) is answered 415 naming the setting to change, before any
// misleading signature or JSON error, and reaches no callback.
func TestFormEncodedRefused(t *testing.T) {
	payload := vendorSample(t, "github/push.json")
	form := []byte(url.Values{"payload": {string(payload)}}.Encode())
	for _, c := range []vendorCall{
		{path: "/hooks/git", headers: map[string]string{"X-Gitea-Event": "push", "X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"},
			auth: authGitea, signed: payload, body: form},
		{path: "/hooks/git", headers: map[string]string{"X-GitHub-Event": "push", "Content-Type": "application/x-www-form-urlencoded"},
			auth: authGitHub, body: form},
		{path: "/hooks/registry", headers: map[string]string{"X-GitHub-Event": "package", "Content-Type": "application/x-www-form-urlencoded"},
			auth: authGitHub, body: form},
	} {
		res := sendVendor(t, c)
		if res.status != 415 || !strings.Contains(res.body, "set the webhook's content type to application/json") || len(res.pushes)+len(res.registry) != 0 {
			t.Errorf("%s %v: %d %s", c.path, c.headers, res.status, res.body)
		}
	}
}

// TestRefusalNamesTheHeader: a refusal names the credential header the
// sender used: X-Gitlab-Token (not a bearer token), and for Gitea, which
// sends X-Hub-Signature-256 too, X-Gitea-Signature.
func TestRefusalNamesTheHeader(t *testing.T) {
	gitlab := sendVendor(t, vendorCall{path: "/hooks/git", headers: map[string]string{"X-Gitlab-Event": "Push Hook"}, auth: authGitLab, secret: "guess",
		body: vendorSample(t, "gitlab/push-hook.json")})
	if gitlab.status != 401 || !strings.Contains(gitlab.body, "X-Gitlab-Token: bad token") || strings.Contains(gitlab.body, "bearer") {
		t.Errorf("wrong X-Gitlab-Token: %d %s", gitlab.status, gitlab.body)
	}
	bearer := sendVendor(t, vendorCall{path: "/hooks/registry", auth: authBearer, secret: "guess", body: vendorSample(t, "harbor/push-artifact.json")})
	if bearer.status != 401 || !strings.Contains(bearer.body, "Authorization: Bearer: bad token") {
		t.Errorf("wrong bearer token: %d %s", bearer.status, bearer.body)
	}
	body := vendorSample(t, "gitea/push.json")
	// Gitea's headers as it sends them: its own and GitHub's, all over the body.
	giteaHeaders := map[string]string{"X-Gitea-Event": "push", "X-GitHub-Event": "push", "X-Gogs-Event": "push",
		GitHubSignatureHeader: "sha256=" + hmacHex(sha256.New, "guess", body)}
	gitea := sendVendor(t, vendorCall{path: "/hooks/git", headers: giteaHeaders, auth: authGitea, secret: "guess", body: body})
	if gitea.status != 401 || !strings.Contains(gitea.body, GiteaSignatureHeader) || strings.Contains(gitea.body, GitHubSignatureHeader) {
		t.Errorf("wrong Gitea secret: %d %s", gitea.status, gitea.body)
	}
	giteaHeaders[GitHubSignatureHeader] = "sha256=" + hmacHex(sha256.New, testSecret, body)
	if res := sendVendor(t, vendorCall{path: "/hooks/git", headers: giteaHeaders, auth: authGitea, body: body}); res.status != 202 {
		t.Errorf("right Gitea secret: %d %s", res.status, res.body)
	}
}

// TestQuayWithPushData: a Quay notification that also has push_data is
// read as Quay's (its docker_url and updated_tags), and a body pinned to
// the wrong parser gets an error naming the JSON field and type, never a
// Go type.
func TestQuayWithPushData(t *testing.T) {
	body := []byte(`{"repository":"shopteam/checkout","docker_url":"quay.io/shopteam/checkout","updated_tags":["1.4.2"],"push_data":{"tag":"1.4.2"}}`)
	res := sendVendor(t, vendorCall{path: "/hooks/registry", auth: authPath, body: body})
	if res.status != 202 || len(res.registry) != 1 || res.registry[0].Host != "quay.io" || res.registry[0].Repository != "shopteam/checkout" {
		t.Fatalf("quay with push_data: %d %s %+v", res.status, res.body, res.registry)
	}
	res = sendVendor(t, vendorCall{path: "/hooks/registry/dockerhub", auth: authBearer, body: body})
	if res.status != 400 || !strings.Contains(res.body, "repository: got string, want object") || strings.Contains(res.body, "struct") || strings.Contains(res.body, "json:") {
		t.Fatalf("quay body on the docker hub parser: %d %s", res.status, res.body)
	}
	// The README's example.
	res = sendVendor(t, vendorCall{path: "/hooks/registry/dockerhub", auth: authBearer, body: vendorSample(t, "quay/repo-push.json")})
	if want := "docker hub webhook: bad JSON: line 3, column 35: repository: got string, want object"; !strings.Contains(res.body, want) {
		t.Fatalf("quay sample on the docker hub parser: %d %s, want %s", res.status, res.body, want)
	}
}

// TestCloudEventsHeaderWithStructuredBody: a ce-specversion header means
// CloudEvents (README "Which parser"); a body that is itself an event
// (Harbor's "CloudEvents" format, with its own specversion) is read in
// structured mode even when the sender adds ce-* headers.
func TestCloudEventsHeaderWithStructuredBody(t *testing.T) {
	body := vendorSample(t, "harbor/cloudevents-push-artifact.json")
	for _, path := range []string{"/hooks/registry", "/hooks/registry/harbor", "/hooks/registry/cloudevents"} {
		res := sendVendor(t, vendorCall{path: path, auth: authBearer, body: body,
			headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Type": HarborCloudEventPushed, "Content-Type": "application/json"}})
		if res.status != 202 || len(res.registry) != 1 || res.registry[0].Host != "harbor.example.com" || res.registry[0].Tag != "1.4.2" {
			t.Errorf("%s: %d %s %+v", path, res.status, res.body, res.registry)
		}
	}
	// Binary mode stays binary: the body is the data.
	data := []byte(`{"resources":[{"tag":"1.4.2","resource_url":"harbor.example.com/shop/checkout:1.4.2"}]}`)
	res := sendVendor(t, vendorCall{path: "/hooks/registry", auth: authBearer, body: data,
		headers: map[string]string{"Ce-Specversion": "1.0", "Ce-Type": HarborCloudEventPushed, "Content-Type": "application/json"}})
	if res.status != 202 || len(res.registry) != 1 {
		t.Errorf("binary harbor event: %d %s", res.status, res.body)
	}
}
