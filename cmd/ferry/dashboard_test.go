package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/dashboard"
	"github.com/ferry-dev/ferry/agent/fleet"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/overlays"
)

// The dashboard's pages over the real adapter, a real agent loop, a real
// registry and a real fleet repo: what `ferry run --listen` serves.

const dashPipelineYAML = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
  - {name: cart, image: REGISTRY/shop/cart, tags: {regex: '^main-(?P<version>[0-9]+)$', order: numerical}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// dashDenyCart keeps cart out of ppd with a reason holding markup, which the
// pending table must show as text.
const dashDenyCart = `package ferry.promotion

deny contains "cart is frozen in ppd: <b>release</b> <script>alert(2)</script>" if {
	input.environment.name == "ppd"
	input.app.name == "cart"
}
`

// pageGuard only turns a page that hangs behind a blocked pass into a
// failure instead of a test timeout; it bounds no latency.
const pageGuard = 30 * time.Second

// dashFleet is an agent loop over a real registry (go-containerregistry's,
// in-process) and a bare fleet repo reached over file://.
type dashFleet struct {
	loop *agent.Loop
	repo *gatedRepo
	bare string
	reg  string
	src  *dashSource
}

// gatedRepo is the real fleet repo whose Fetch a test can hold or fail: a
// pass held there keeps the agent's writer lock, as a hung Git server does.
type gatedRepo struct {
	*fleet.Repo
	fetches atomic.Int64
	mu      sync.Mutex
	hold    chan struct{} // non-nil: Fetch waits until it is closed
	held    chan struct{} // closed when a Fetch starts waiting on hold
	fail    error         // the next failN fetches fail with it, before any hold
	failN   int
}

func (r *gatedRepo) Fetch(ctx context.Context) (*fleet.Snapshot, error) {
	r.fetches.Add(1)
	r.mu.Lock()
	if r.failN > 0 {
		r.failN--
		r.mu.Unlock()
		return nil, r.fail
	}
	hold, held := r.hold, r.held
	r.held = nil
	r.mu.Unlock()
	if held != nil {
		close(held)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return r.Repo.Fetch(ctx)
}

// holdFetches makes the next fetches wait; held closes when the first one
// waits, release lets them all go.
func (r *gatedRepo) holdFetches() (held <-chan struct{}, release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold, r.held = make(chan struct{}), make(chan struct{})
	h, hold := r.held, r.hold
	var once sync.Once
	return h, func() {
		once.Do(func() {
			r.mu.Lock()
			r.hold = nil
			r.mu.Unlock()
			close(hold)
		})
	}
}

// failFetches makes the next n fetches fail with err.
func (r *gatedRepo) failFetches(err error, n int) {
	r.mu.Lock()
	r.fail, r.failN = err, n
	r.mu.Unlock()
}

// newDashFleet seeds the registry and the fleet repo and builds the loop
// without running it.
func newDashFleet(t testing.TB) *dashFleet {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	f := &dashFleet{reg: ln.Addr().String()}
	f.push(t, "shop/checkout", "1.0.0")
	f.push(t, "shop/checkout", "1.2.0")
	f.push(t, "shop/cart", "main-7")

	root := t.TempDir()
	if f.bare, err = gitserver.InitBare(root, "fleet.git"); err != nil {
		t.Fatal(err)
	}
	files, err := overlays.ExampleFleet(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	delete(files, "ferry.yaml")
	files["policies/dashboard.rego"] = []byte(dashDenyCart)
	if err := gitserver.Seed(f.bare, files, "seed"); err != nil {
		t.Fatal(err)
	}
	url := "file://" + f.bare
	cfg, err := config.Parse("ferry.yaml", []byte(strings.NewReplacer("FLEET", url, "REGISTRY", f.reg).Replace(dashPipelineYAML)))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := fleet.Open(context.Background(), fleet.Options{URL: url, Branch: "main", Dir: filepath.Join(root, "clone"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f.repo = &gatedRepo{Repo: repo}
	a, err := agent.New(agent.Options{Config: cfg, Fleet: f.repo, Registry: registry.NewClient(registry.Options{RequestsPerSecond: 1000})})
	if err != nil {
		t.Fatal(err)
	}
	f.loop = agent.NewLoop(a, time.Hour)
	f.src = newDashSource(func() *agent.Loop { return f.loop })
	return f
}

// run runs the loop until the test ends; its first pass starts at once.
func (f *dashFleet) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.loop.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func startDashFleet(t testing.TB) *dashFleet {
	t.Helper()
	f := newDashFleet(t)
	f.run(t)
	f.waitForPass(t)
	return f
}

func (f *dashFleet) push(t testing.TB, repo, tag string) {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(f.reg + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

func (f *dashFleet) git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitserver.Env(), "GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
		"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// humanCommit pushes an empty commit with msg, as a person would.
func (f *dashFleet) humanCommit(t testing.TB, msg string) {
	t.Helper()
	dir := t.TempDir()
	f.git(t, dir, "clone", "-q", f.bare, ".")
	f.git(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	f.git(t, dir, "push", "-q", "origin", "HEAD:main")
}

// waitForPass waits until the loop's last pass saw the bare repo's head
// (which the pass itself may move).
func (f *dashFleet) waitForPass(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		p := f.loop.LastPass()
		want := f.git(t, f.bare, "rev-parse", "main")
		if p != nil && p.Result != nil && p.Result.Head() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop never saw head %.12s (last pass: %+v)", want, p)
		}
		if p != nil && i%10 == 9 {
			f.loop.Trigger(agent.Scope{Reason: "test"}) // the pass ran before our push
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	dashRowRe     = regexp.MustCompile(`(?s)<tr data-app="([^"]+)">(.*?)</tr>`)
	dashCellRe    = regexp.MustCompile(`(?s)<td class="cell" data-env="([^"]+)">(.*?)</td>`)
	dashVersionRe = regexp.MustCompile(`<div class="version">([^<]*)</div>`)
	dashSubjectRe = regexp.MustCompile(`<div class="subject">([^<]*)</div>`)
)

// dashMatrix reads "app env version" from the matrix the page shows.
func dashMatrix(body string) []string {
	var out []string
	for _, row := range dashRowRe.FindAllStringSubmatch(body, -1) {
		for _, cell := range dashCellRe.FindAllStringSubmatch(row[2], -1) {
			v := "none"
			if m := dashVersionRe.FindStringSubmatch(cell[2]); m != nil {
				v = m[1]
			}
			out = append(out, row[1]+" "+cell[1]+" "+v)
		}
	}
	slices.Sort(out)
	return out
}

// matrixOfGit reads the same from the overlays at the bare repo's head.
func (f *dashFleet) matrixOfGit(t testing.TB) []string {
	var out []string
	for _, app := range []string{"checkout", "cart"} {
		for _, env := range []string{"dev", "qa", "ppd", "prod", "dr"} {
			imgs, err := overlays.ReadImages([]byte(f.git(t, f.bare, "show", "main:overlays/"+env+"/kustomization.yaml")))
			if err != nil {
				t.Fatal(err)
			}
			v := "none"
			for _, im := range imgs {
				if strings.HasSuffix(im.Name, "/shop/"+app) {
					v = im.NewTag
				}
			}
			out = append(out, app+" "+env+" "+v)
		}
	}
	slices.Sort(out)
	return out
}

// dashGet serves one request through h.
func dashGet(t testing.TB, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return dashServe(h, r)
}

func dashServe(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// dashGetGuarded is dashGet that fails the test if the page never answers.
func dashGetGuarded(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- dashServe(h, httptest.NewRequest(http.MethodGet, target, nil)) }()
	select {
	case w := <-answered:
		return w
	case <-time.After(pageGuard):
		t.Fatalf("GET %s never answered: the page waits for the blocked pass", target)
		return nil
	}
}

func TestDashboardHomeShowsGitState(t *testing.T) {
	f := startDashFleet(t)
	h := dashboard.New(f.src, dashboard.Options{})
	w := dashGet(t, h, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	got, want := dashMatrix(body), f.matrixOfGit(t)
	if !slices.Equal(got, want) {
		t.Fatalf("matrix:\n got %q\nwant %q", got, want)
	}
	// The chain really moved: checkout everywhere, cart held before ppd.
	for _, cell := range []string{"checkout prod 1.2.0", "checkout dr 1.2.0", "cart qa main-7"} {
		if !slices.Contains(got, cell) {
			t.Errorf("matrix lacks %q: %q", cell, got)
		}
	}
	for _, want := range []string{
		`<td><span class="badge deny">deny</span></td>`,
		// The deny reason is text, markup and all.
		`cart is frozen in ppd: &lt;b&gt;release&lt;/b&gt; &lt;script&gt;alert(2)&lt;/script&gt;`,
		`<div class="subject">promote checkout 1.2.0 to dr</div>`,
		`<a href="/apps/checkout">checkout</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/ lacks %s", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "<b>release") {
		t.Error("/ carries markup from a deny reason")
	}
	for k, v := range map[string]string{
		"Content-Security-Policy": dashboard.CSP, "X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestDashboardAppHistory(t *testing.T) {
	f := startDashFleet(t)
	h := dashboard.New(f.src, dashboard.Options{HistoryLimit: 50})
	// git's own view of checkout's promotions, newest first.
	var want []string
	for _, line := range strings.Split(f.git(t, f.bare, "log", "--format=%(trailers:key=Ferry-App,valueonly,separator=)%x09%s", "main"), "\n") {
		if app, subject, _ := strings.Cut(line, "\t"); app == "checkout" {
			want = append(want, subject)
		}
	}
	tests := []struct {
		path string
		want []string
	}{
		{"/apps/checkout", want},
		{"/apps/checkout/qa", []string{"promote checkout 1.2.0 to qa"}},
		{"/apps/cart/ppd", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := dashGet(t, h, tt.path)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d\n%s", tt.path, w.Code, w.Body)
			}
			var got []string
			for _, m := range dashSubjectRe.FindAllStringSubmatch(w.Body.String(), -1) {
				got = append(got, m[1])
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("history:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	if len(want) != 5 || want[0] != "promote checkout 1.2.0 to dr" {
		t.Fatalf("git shows unexpected promotions: %q", want)
	}
}

func TestDashboardCommitSubjectIsText(t *testing.T) {
	f := startDashFleet(t)
	f.humanCommit(t, "<script>alert(1)</script>\n\nFerry-App: checkout")
	f.loop.Trigger(agent.Scope{Reason: "test"})
	f.waitForPass(t)
	h := dashboard.New(f.src, dashboard.Options{})
	for _, path := range []string{"/", "/apps/checkout"} {
		body := dashGet(t, h, path).Body.String()
		if !strings.Contains(body, `<div class="subject">&lt;script&gt;alert(1)&lt;/script&gt;</div>`) {
			t.Errorf("%s does not show the subject as text", path)
		}
		if strings.Contains(body, "<script") {
			t.Errorf("%s carries a script element", path)
		}
	}
}

func TestDashboardNotFoundAndMethods(t *testing.T) {
	f := startDashFleet(t)
	h := dashboard.New(f.src, dashboard.Options{})
	tests := []struct {
		method, path string
		code         int
		text         string
	}{
		{"GET", "/apps/nope", 404, "ferry has no app named nope."},
		{"GET", "/apps/checkout/nope", 404, "ferry has no environment named nope."},
		{"GET", "/apps/%3Cscript%3Ex", 404, "ferry has no app named &lt;script&gt;x."},
		{"GET", "/apps/checkout/qa/extra", 404, "There is no page at /apps/checkout/qa/extra."},
		{"GET", "/favicon.ico", 404, "There is no page"},
		{"POST", "/", 405, "The dashboard is read-only."},
		{"DELETE", "/apps/checkout", 405, "read-only"},
		{"HEAD", "/apps/checkout", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, _ := http.NewRequest(tt.method, tt.path, nil)
			w := dashServe(h, r)
			if w.Code != tt.code {
				t.Fatalf("%s %s = %d, want %d\n%s", tt.method, tt.path, w.Code, tt.code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.text) {
				t.Fatalf("%s %s: body lacks %q:\n%s", tt.method, tt.path, tt.text, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if w.Header().Get("Content-Security-Policy") != dashboard.CSP {
				t.Fatal("no CSP on an error page")
			}
		})
	}
}

func TestDashboardToken(t *testing.T) {
	f := startDashFleet(t)
	const token = "s3cret-token"
	var logs bytes.Buffer
	h := dashboard.New(f.src, dashboard.Options{Token: token, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	// The session cookie a ?token= visit sets (checked in the table below).
	granted := dashGet(t, h, "/?token="+token).Result().Cookies()
	if len(granted) != 1 {
		t.Fatalf("?token= set cookies %+v", granted)
	}
	cookie := granted[0]
	tests := []struct {
		name   string
		target string
		hdr    []string
		code   int
	}{
		{"no token", "/", nil, 401},
		{"no token on an app", "/apps/checkout", nil, 401},
		{"no token on a missing page", "/nope", nil, 401},
		{"bearer", "/", []string{"Authorization", "Bearer " + token}, 200},
		{"bearer scheme is case-insensitive", "/", []string{"Authorization", "bearer " + token}, 200},
		{"wrong bearer", "/", []string{"Authorization", "Bearer nope"}, 401},
		{"basic is not bearer", "/", []string{"Authorization", "Basic " + token}, 401},
		{"prefix of the token", "/", []string{"Authorization", "Bearer s3cret"}, 401},
		{"wrong query token", "/?token=nope", nil, 401},
		{"query token", "/apps/checkout?token=" + token + "&x=1", nil, 303},
		{"cookie", "/apps/checkout", []string{"Cookie", cookie.Name + "=" + cookie.Value}, 200},
		{"raw token as cookie", "/", []string{"Cookie", cookie.Name + "=" + token}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := dashGet(t, h, tt.target, tt.hdr...)
			if w.Code != tt.code {
				t.Fatalf("GET %s = %d, want %d", tt.target, w.Code, tt.code)
			}
			if strings.Contains(w.Body.String(), token) {
				t.Fatal("the page shows the token")
			}
			switch w.Code {
			case 401:
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Fatal("401 without WWW-Authenticate")
				}
			case 303:
				if loc := w.Header().Get("Location"); loc != "/apps/checkout?x=1" {
					t.Fatalf("redirect to %q", loc)
				}
				c := w.Result().Cookies()
				if len(c) != 1 || c[0].Value != cookie.Value || c[0].Value == token || !c[0].HttpOnly ||
					c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
					t.Fatalf("cookie %+v", c)
				}
			}
		})
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the token reached the logs")
	}
}

func TestDashboardStarting(t *testing.T) {
	h := dashboard.New(newDashSource(func() *agent.Loop { return nil }), dashboard.Options{})
	for _, path := range []string{"/", "/apps/checkout", "/apps/checkout/qa"} {
		w := dashGet(t, h, path)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s before the loop = %d (Retry-After %q)", path, w.Code, w.Header().Get("Retry-After"))
		}
		if !strings.Contains(w.Body.String(), "no reconcile pass has finished yet") {
			t.Errorf("GET %s: %s", path, w.Body)
		}
	}
}

// TestDashboardDoesNotWaitForPass holds the pass in the fleet repo's Fetch
// (where it keeps the agent's writer lock, as behind a hung Git server):
// the pages still answer at once, from the last pass's snapshot, and no
// page view fetches.
func TestDashboardDoesNotWaitForPass(t *testing.T) {
	pages := []string{"/", "/apps/checkout", "/apps/checkout/qa"}
	t.Run("first pass held", func(t *testing.T) {
		f := newDashFleet(t)
		held, release := f.repo.holdFetches()
		defer release()
		f.run(t)
		<-held
		h := dashboard.New(f.src, dashboard.Options{})
		for _, path := range pages {
			w := dashGetGuarded(t, h, path)
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no reconcile pass has finished yet") {
				t.Errorf("GET %s while the first pass is held = %d\n%s", path, w.Code, w.Body)
			}
		}
		if n := f.repo.fetches.Load(); n != 1 {
			t.Errorf("%d fetches, want only the held pass's", n)
		}
		release()
		f.waitForPass(t)
		if w := dashGet(t, h, "/"); w.Code != http.StatusOK {
			t.Fatalf("GET / after the pass = %d\n%s", w.Code, w.Body)
		}
	})
	t.Run("first pass failed then held", func(t *testing.T) {
		f := newDashFleet(t)
		f.repo.failFetches(errors.New("fetch: the git server is down"), 1)
		held, release := f.repo.holdFetches()
		defer release()
		f.run(t)
		<-held // the failed pass is the last one; the loop's next waits in Fetch
		h := dashboard.New(f.src, dashboard.Options{})
		for _, path := range pages {
			w := dashGetGuarded(t, h, path)
			if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "the git server is down") {
				t.Errorf("GET %s after a failed first pass = %d\n%s", path, w.Code, w.Body)
			}
		}
		if n := f.repo.fetches.Load(); n != 2 {
			t.Errorf("%d fetches, want the loop's 2: a page view fetched", n)
		}
	})
	t.Run("later pass held", func(t *testing.T) {
		f := startDashFleet(t)
		h := dashboard.New(f.src, dashboard.Options{})
		// What each page shows before the pass: the matrix, else the history.
		shown := func(body string) []string {
			if m := dashMatrix(body); m != nil {
				return m
			}
			var subjects []string
			for _, m := range dashSubjectRe.FindAllStringSubmatch(body, -1) {
				subjects = append(subjects, m[1])
			}
			return subjects
		}
		before := map[string][]string{}
		for _, path := range pages {
			before[path] = shown(dashGet(t, h, path).Body.String())
		}
		if got, want := before["/"], f.matrixOfGit(t); !slices.Equal(got, want) {
			t.Fatalf("matrix:\n got %q\nwant %q", got, want)
		}
		held, release := f.repo.holdFetches()
		defer release()
		fetched := f.repo.fetches.Load()
		f.loop.Trigger(agent.Scope{All: true, Reason: "test"})
		<-held
		for _, path := range pages {
			w := dashGetGuarded(t, h, path)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s while a pass is held = %d\n%s", path, w.Code, w.Body)
			}
			// The same state as before the pass: the last pass's snapshot.
			if got := shown(w.Body.String()); len(got) == 0 || !slices.Equal(got, before[path]) {
				t.Errorf("GET %s while a pass is held shows %q, before it %q", path, got, before[path])
			}
		}
		if n := f.repo.fetches.Load(); n != fetched+1 {
			t.Errorf("%d fetches since the hold, want only the held pass's", n-fetched)
		}
	})
}

// TestDashboardStatusOnceAtATime: concurrent page loads make one call to
// the agent's Status and share its answer. In a synctest bubble, Wait
// returns once every load is parked, so the count is exact.
func TestDashboardStatusOnceAtATime(t *testing.T) {
	f := startDashFleet(t)
	want := f.matrixOfGit(t)
	synctest.Test(t, func(t *testing.T) {
		var calls, inflight, most atomic.Int64
		release := make(chan struct{})
		f.src.readStatus = func(a *agent.Agent, ctx context.Context) ([]agent.EnvStatus, error) {
			calls.Add(1)
			n := inflight.Add(1)
			defer inflight.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-release
			return a.Status(ctx)
		}
		h := dashboard.New(f.src, dashboard.Options{})
		const loads = 8
		pages := make([]*httptest.ResponseRecorder, loads)
		var wg sync.WaitGroup
		for i := range loads {
			wg.Go(func() { pages[i] = dashGet(t, h, "/") })
		}
		synctest.Wait() // every load waits: one in Status, the others for its answer
		if n := calls.Load(); n != 1 {
			t.Errorf("%d concurrent page loads called Status %d times, want once", loads, n)
		}
		close(release)
		wg.Wait()
		if n := most.Load(); n != 1 {
			t.Errorf("%d calls of Status at once, want 1", n)
		}
		for i, w := range pages {
			if w.Code != http.StatusOK || !slices.Equal(dashMatrix(w.Body.String()), want) {
				t.Errorf("load %d: %d, matrix %q", i, w.Code, dashMatrix(w.Body.String()))
			}
		}
	})
}

// TestDashboardAbandonedLoad: a page load whose client goes away stops
// waiting at once, and the Status call the other loads share goes on
// without it (it used to run on the first caller's context, so every
// load waiting on it failed with context.Canceled and an empty page).
func TestDashboardAbandonedLoad(t *testing.T) {
	f := startDashFleet(t)
	want := f.matrixOfGit(t)
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		f.src.readStatus = func(a *agent.Agent, ctx context.Context) ([]agent.EnvStatus, error) {
			<-release
			return a.Status(ctx)
		}
		h := dashboard.New(f.src, dashboard.Options{})
		ctx, cancel := context.WithCancel(context.Background())
		first, second := make(chan *httptest.ResponseRecorder, 1), make(chan *httptest.ResponseRecorder, 1)
		go func() { first <- dashServe(h, httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)) }()
		synctest.Wait()
		go func() { second <- dashGet(t, h, "/") }()
		synctest.Wait()
		cancel()
		synctest.Wait()
		abandoned := false
		select {
		case <-first:
			abandoned = true
		default:
		}
		close(release)
		w := <-second
		if !abandoned {
			<-first
			t.Error("the abandoned load waited for Status")
		}
		if w.Code != http.StatusOK || !slices.Equal(dashMatrix(w.Body.String()), want) {
			t.Fatalf("the load that stayed: %d, matrix %q\n%s", w.Code, dashMatrix(w.Body.String()), w.Body)
		}
	})
}

// FuzzDashboardRouter sends arbitrary paths and queries to a dashboard over
// a real agent: no panic, no 500, and nothing from the URL comes back as markup.
func FuzzDashboardRouter(f *testing.F) {
	for _, seed := range []string{
		"/", "/apps/checkout", "/apps/checkout/qa", "/apps/cart/dr", "/apps/", "/apps//qa", "/apps/checkout/",
		"/apps/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/apps/checkout/%22%3E%3Csvg%20onload=alert(1)%3E",
		"/apps/../../etc/passwd", "//evil.example/", "/apps/checkout?token=x", "/apps/a/b/c", "/%00", "/apps/%2F%2F",
		"/static/../apps/checkout", "/apps/checkout/qa?limit=-1",
	} {
		f.Add(seed)
	}
	fl := startDashFleet(f)
	h := dashboard.New(fl.src, dashboard.Options{})
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.NewRequest(http.MethodGet, "http://ferry.test"+target, nil)
		if err != nil || r.URL.Host != "ferry.test" {
			t.Skip()
		}
		w := dashServe(h, r)
		switch w.Code {
		case 200, 301, 307, 308, 404:
		default:
			t.Fatalf("GET %q = %d\n%s", target, w.Code, w.Body)
		}
		body := strings.ToLower(w.Body.String())
		if strings.Contains(body, "<script") || strings.Contains(body, "<svg onload") || strings.Contains(body, "<img") {
			t.Fatalf("GET %q put markup on the page:\n%s", target, w.Body)
		}
	})
}

// TestDashboardTokenScope: with a dashboard token the pages need it, and
// the machine endpoints stay open for Prometheus, probes and `ferry status
// --agent` (which has no way to send it), as the README says.
func TestDashboardTokenScope(t *testing.T) {
	f := newCmdFleet(t, outputPipeline, nil)
	p, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := deadAddr(t) // a free port
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := &globals{log: slog.New(slog.DiscardHandler)}
	srv, err := serve(ctx, addr, p, &atomic.Pointer[agent.Loop]{}, prometheus.NewRegistry(), g, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(srv)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/", http.StatusUnauthorized},
		{"/apps/checkout", http.StatusUnauthorized},
		{"/?token=s3cret", http.StatusSeeOther},
		{"/metrics", http.StatusOK},
		{"/api/progress", http.StatusOK},
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusServiceUnavailable}, // no pass yet, but not a 401
	} {
		resp, err := noRedirect.Get("http://" + addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusSeeOther && strings.Contains(resp.Header.Get("Location"), "token") {
			t.Errorf("the redirect keeps the token: %s", resp.Header.Get("Location"))
		}
	}
}

// TestDashPassUntrusted: the home page's "Not trusted" rows come from the
// plan's untrusted tags and its steps' unverified commits.
func TestDashPassUntrusted(t *testing.T) {
	res := &agent.Result{Plan: agent.Plan{
		Steps: []agent.Step{{App: "checkout", Env: "qa", From: "dev", Action: agent.ActionHold,
			Unverified: "commit abc123def456 by bob@example.com is not verified: the commit is not signed", UnverifiedTag: "1.1.0"}},
		Untrusted: []agent.SkippedTags{{App: "checkout", Tags: []registry.Skipped{{Tag: "1.2.0", Reason: "no signature found"}}}},
	}}
	p := dashPass(&agent.PassRecord{Result: res})
	want := []dashboard.Untrusted{
		{App: "checkout", Env: "dev", Version: "1.1.0", What: "commit", Reason: "commit abc123def456 by bob@example.com is not verified: the commit is not signed"},
		{App: "checkout", Version: "1.2.0", What: "tag", Reason: "no signature found"},
	}
	if !slices.Equal(p.Untrusted, want) {
		t.Errorf("untrusted %+v\nwant %+v", p.Untrusted, want)
	}
}
