package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	imageReport  = "../../agent/evidence/trivy/testdata/reports/image-alpine.json"  // CRITICAL=4 HIGH=3
	fsReport     = "../../agent/evidence/trivy/testdata/reports/fs-repo.json"       // CRITICAL=0 HIGH=2
	sarifReport  = "../../agent/evidence/trivy/testdata/reports/clean-image.sarif"  // clean
	reportTask   = "../../agent/evidence/sonar/testdata/report-task/scanner-10.txt" // ceTaskId AZLxS3ffHn1Yk0sGZ0mT
	testUser     = "ci"
	testPassword = "s3cret-registry-token"
)

// evidenceRegistry is an in-process registry without the referrers API
// (as distribution 2.8 and Nexus: the tag fallback is used), which asks
// for basic credentials when auth is set. It returns the host and an
// image's digest there.
func evidenceRegistry(t *testing.T, auth bool) (host, digest string) {
	t.Helper()
	// No Docker config of the person running the tests.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if auth {
			u, p, ok := r.BasicAuth()
			if !ok || u != testUser || p != testPassword {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(r.URL.Path, "/referrers/") {
			http.NotFound(w, r)
			return
		}
		reg.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	host = ln.Addr().String()

	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/shop/checkout:1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: testUser, Password: testPassword})); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, d.String()
}

func evidenceLs(t *testing.T, subject string, extra ...string) []evidenceEntry {
	t.Helper()
	code, out, errOut, err := runFerry(t, append([]string{"evidence", "ls", subject, "-o", "json"}, extra...)...)
	if code != 0 {
		t.Fatalf("evidence ls exited %d: %v\n%s", code, err, errOut)
	}
	var entries []evidenceEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("evidence ls -o json: %v\n%s", err, out)
	}
	return entries
}

// TestEvidenceAttachAndLs: the image scan, the file-system scan and the
// Sonar report task are attached through the tag fallback, and ls lists
// them newest first with their kinds and summaries.
func TestEvidenceAttachAndLs(t *testing.T) {
	host, digest := evidenceRegistry(t, false)
	subject := host + "/shop/checkout@" + digest

	attach := func(args ...string) string {
		t.Helper()
		code, out, errOut, err := runFerry(t, append([]string{"evidence", "attach", subject}, args...)...)
		if code != 0 {
			t.Fatalf("evidence attach %v exited %d: %v\n%s", args, code, err, errOut)
		}
		d := strings.TrimSpace(out)
		if !strings.HasPrefix(d, "sha256:") || !strings.Contains(errOut, "attached ") {
			t.Fatalf("evidence attach %v: stdout %q stderr %q, want the referrer's digest and a line saying so", args, out, errOut)
		}
		return d
	}
	img := attach("--trivy", imageReport)
	fs := attach("--trivy", fsReport, "--kind", "fs")
	sarif := attach("--sarif", sarifReport, "--kind", "image")
	task := attach("--sonar", reportTask)

	entries := evidenceLs(t, subject)
	got := map[string]evidenceEntry{}
	for _, e := range entries {
		got[e.Digest] = e
	}
	if len(entries) != 4 {
		t.Fatalf("ls lists %d referrers, want 4: %+v", len(entries), entries)
	}
	check := func(d, typ, kind string, critical, high int) {
		t.Helper()
		e := got[d]
		if e.Type != typ || e.Kind != kind || e.Created == "" || e.Error != "" {
			t.Errorf("%s: got %+v, want type %s kind %s", d, e, typ, kind)
		}
		if typ != "sonar" && (e.Summary["CRITICAL"] != critical || e.Summary["HIGH"] != high) {
			t.Errorf("%s: summary %v, want CRITICAL=%d HIGH=%d", d, e.Summary, critical, high)
		}
	}
	check(img, "trivy", "image", 4, 3)
	check(fs, "trivy", "fs", 0, 2)
	check(sarif, "sarif", "image", 0, 0)
	check(task, "sonar", "", 0, 0)
	if e := got[task]; e.ProjectKey != "checkout" || e.TaskID != "AZLxS3ffHn1Yk0sGZ0mT" {
		t.Errorf("sonar entry %+v, want project checkout task AZLxS3ffHn1Yk0sGZ0mT", e)
	}

	code, text, _, err := runFerry(t, "evidence", "ls", subject)
	if code != 0 {
		t.Fatal(err)
	}
	for _, want := range []string{"TYPE", "trivy  image", "trivy  fs", "CRITICAL=4 HIGH=3", "project checkout, task AZLxS3ffHn1Yk0sGZ0mT", fs} {
		if !strings.Contains(text, want) {
			t.Errorf("evidence ls lacks %q:\n%s", want, text)
		}
	}

	// An image with nothing attached says so.
	other := host + "/shop/checkout@sha256:" + strings.Repeat("0", 64)
	if code, out, _, err := runFerry(t, "evidence", "ls", other); code != 0 || !strings.Contains(out, "no evidence ferry reads is attached to "+other) {
		t.Errorf("ls of an image without referrers: exit %d %v:\n%s", code, err, out)
	}
}

// TestEvidenceAttachRefuses: a bad file or bad flags are refused with the
// file, line or field and reason, and nothing is pushed.
func TestEvidenceAttachRefuses(t *testing.T) {
	host, digest := evidenceRegistry(t, false)
	subject := host + "/shop/checkout@" + digest
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	truncated := write("truncated.json", "{\n  \"SchemaVersion\": 2,\n  \"Results\": [\n    {\"Target\": \"x\",\n")
	noPkg := write("nopkg.json", `{"SchemaVersion": 2, "Results": [{"Target": "app", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "HIGH"}]}]}`)
	badTask := write("report-task.txt", "projectKey=checkout\nserverUrl=https://sonar.example\nthis is not a property\n")
	sarifAsTrivy, err := os.ReadFile(sarifReport)
	if err != nil {
		t.Fatal(err)
	}
	sarifFile := write("scan.sarif", string(sarifAsTrivy))
	emptySARIF := write("empty.sarif", `{"version":"2.1.0","runs":[]}`)

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"truncated JSON", []string{subject, "--trivy", truncated}, []string{truncated, "line 4, column 20", "unexpected end of JSON input"}},
		{"finding without package", []string{subject, "--trivy", noPkg}, []string{noPkg, "Results[0].Vulnerabilities[0]", "no PkgName"}},
		{"bad report task", []string{subject, "--sonar", badTask}, []string{badTask, "line 3: want key=value"}},
		{"SARIF as --trivy", []string{subject, "--trivy", sarifFile}, []string{sarifFile, "is a SARIF log: attach it with --sarif"}},
		{"Trivy JSON as --sarif", []string{subject, "--sarif", imageReport}, []string{"is a Trivy JSON report: attach it with --trivy"}},
		{"unknown kind", []string{subject, "--trivy", imageReport, "--kind", "source"}, []string{`--kind "source": want image or fs`}},
		// A source scan as the image's would stand in for a missing image
		// scan; an image scan as the source's hides the source's.
		{"fs scan as the image scan", []string{subject, "--trivy", fsReport}, []string{fsReport, `scanned a filesystem`, "attach it with --kind fs"}},
		{"image scan as the fs scan", []string{subject, "--trivy", imageReport, "--kind", "fs"}, []string{"scanned an image", "without --kind fs"}},
		{"SARIF holding no scan", []string{subject, "--sarif", emptySARIF}, []string{emptySARIF, "no runs"}},
		{"kind on sonar", []string{subject, "--sonar", reportTask, "--kind", "fs"}, []string{"--kind is for scans"}},
		{"a tag", []string{host + "/shop/checkout:1.4.2", "--trivy", imageReport}, []string{"name the image by digest"}},
		{"two files", []string{subject, "--trivy", imageReport, "--sonar", reportTask}, []string{"none of the others can be"}},
		{"no file", []string{subject}, []string{"at least one of the flags"}},
		{"missing file", []string{subject, "--trivy", filepath.Join(dir, "nope.json")}, []string{"nope.json", "no such file"}},
		{"unknown image", []string{host + "/shop/checkout@sha256:" + strings.Repeat("1", 64), "--trivy", imageReport}, []string{"subject", "404 Not Found"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut, err := runFerry(t, append([]string{"evidence", "attach"}, tc.args...)...)
			if code == 0 || err == nil {
				t.Fatalf("exited 0:\n%s%s", out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if entries := evidenceLs(t, subject); len(entries) != 0 {
		t.Errorf("refused files were pushed: %+v", entries)
	}
}

// TestEvidenceCredentials: the registry's credentials come from the
// Docker config `docker login` writes (DOCKER_CONFIG, or --docker-config)
// or from --username-file/--password-file, and never reach an error.
func TestEvidenceCredentials(t *testing.T) {
	host, digest := evidenceRegistry(t, true)
	subject := host + "/shop/checkout@" + digest
	dir := t.TempDir()

	code, _, _, err := runFerry(t, "evidence", "attach", subject, "--trivy", imageReport)
	if code == 0 || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Fatalf("anonymous attach: exit %d, %v; want a 401", code, err)
	}

	userFile, passFile := filepath.Join(dir, "user"), filepath.Join(dir, "pass")
	os.WriteFile(userFile, []byte(testUser+"\n"), 0o600)
	os.WriteFile(passFile, []byte(testPassword+"\n"), 0o600)
	if code, _, _, err := runFerry(t, "evidence", "attach", subject, "--trivy", imageReport, "--username-file", userFile, "--password-file", passFile); code != 0 {
		t.Fatalf("attach with --username-file/--password-file: %v", err)
	}
	if code, _, _, err := runFerry(t, "evidence", "attach", subject, "--trivy", imageReport, "--username-file", userFile); code == 0 || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("--username-file alone: %v", err)
	}

	cfgDir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"auths": {"`+host+`": {"auth": "`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", cfgDir)
	if code, _, _, err := runFerry(t, "evidence", "attach", subject, "--trivy", fsReport, "--kind", "fs"); code != 0 {
		t.Fatalf("attach with DOCKER_CONFIG: %v", err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	entries := evidenceLs(t, subject, "--docker-config", filepath.Join(cfgDir, "config.json"))
	if len(entries) != 2 {
		t.Fatalf("ls with --docker-config: %+v", entries)
	}
	// Without DOCKER_CONFIG, ~/.docker/config.json, where docker login writes.
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".docker"), 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", home)
	if entries := evidenceLs(t, subject); len(entries) != 2 {
		t.Fatalf("ls with ~/.docker/config.json: %+v", entries)
	}
	// A wrong password is refused, and is not echoed.
	os.WriteFile(passFile, []byte("wrong-password-xyz"), 0o600)
	_, _, errOut, err := runFerry(t, "evidence", "ls", subject, "--username-file", userFile, "--password-file", passFile)
	if err == nil || strings.Contains(err.Error()+errOut, "wrong-password-xyz") {
		t.Fatalf("wrong password: %v %s", err, errOut)
	}
}

// TestEvidenceInsecure: a registry off loopback is asked over verified TLS
// only, unless --insecure allows plain HTTP (as an app's insecure: true).
// registry.invalid never resolves (RFC 2606), so each attempt fails at
// once and its error names the URL it tried.
func TestEvidenceInsecure(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	subject := "registry.invalid:5000/shop/checkout@sha256:" + strings.Repeat("0", 64)
	_, _, _, err := runFerry(t, "evidence", "ls", subject, "--timeout", "10s")
	if err == nil || !strings.Contains(err.Error(), "https://registry.invalid:5000/") || strings.Contains(err.Error(), "http://registry.invalid") {
		t.Errorf("without --insecure: %v; want only an https:// attempt", err)
	}
	_, _, _, err = runFerry(t, "evidence", "ls", subject, "--insecure", "--timeout", "10s")
	if err == nil || !strings.Contains(err.Error(), "http://registry.invalid:5000/") {
		t.Errorf("with --insecure: %v; want a plain http:// attempt", err)
	}
}

// TestEvidenceAttachWarnsOfAnotherDigest: an image scan whose RepoDigests
// name other digests is attached (an image scanned before its push, or one
// platform of an index, names others) but said so on stderr.
func TestEvidenceAttachWarnsOfAnotherDigest(t *testing.T) {
	host, digest := evidenceRegistry(t, false)
	code, out, errOut, err := runFerry(t, "evidence", "attach", host+"/shop/checkout@"+digest, "--trivy", imageReport)
	if code != 0 {
		t.Fatalf("exited %d: %v\n%s", code, err, errOut)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "sha256:") {
		t.Fatalf("stdout %q, want the referrer's digest", out)
	}
	for _, want := range []string{"warning:", "sha256:9f86d081884c", "whose digests are not " + digest} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
