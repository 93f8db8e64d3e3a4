//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ferry-dev/ferry/overlays"
)

const dashboardConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git:
  url: FLEET
  branch: main
  interval: 1s
  author: {name: ferry, email: ferry@example.com}
apps:
  - name: checkout
    image: REGISTRY/shop/checkout
    tags: {semver: ">=1.0.0"}
  - name: cart
    image: REGISTRY/shop/cart
    tags: {regex: '^main-(?P<version>[0-9]+)$', order: numerical}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// holdCart keeps cart out of prod, so the page has a denial to show.
const holdCart = `package ferry.promotion

deny contains "cart waits for the <b>payments</b> freeze" if {
	input.environment.name == "prod"
	input.app.name == "cart"
}
`

// scriptSubject is a person's commit subject that must stay text.
const scriptSubject = "<script>alert(1)</script>"

// TestDashboardInChromium: ferry run --listen serves the dashboard; real
// headless Chromium loads it with the token, sees the versions Git holds,
// follows an app's link to its history (the promotions, and a hostile commit
// subject shown as text with no dialog opening). Without the token: 401.
func TestDashboardInChromium(t *testing.T) {
	reg := startRegistry(t, "", "")
	fleet := startFleetWith(t, reg.host, dashboardConfig, map[string]string{"policies/hold.rego": holdCart})
	for _, tag := range []string{"1.0.0", "1.1.0"} {
		reg.push(t, "shop/checkout", tag)
	}
	reg.push(t, "shop/cart", "main-3")
	const token = "e2e-dashboard-token"
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + addr
	proc := startFerry(t, []string{"FERRY_DASHBOARD_TOKEN=" + token},
		"run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", addr)
	waitFor(t, 20*time.Second, "the chain", func() bool { return len(fleet.promotions(t)) == 8 })
	fleet.humanCommit(t, scriptSubject+"\n\nFerry-App: checkout", func(dir string) {
		f, err := os.OpenFile(filepath.Join(dir, "overlays/dev/kustomization.yaml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fmt.Fprintln(f, "# reviewed")
	})
	waitFor(t, 20*time.Second, "the dashboard to show the person's commit", func() bool {
		code, body := getWith(base+"/apps/checkout", "Bearer "+token)
		return code == 200 && strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;")
	})
	for _, path := range []string{"/", "/apps/checkout", "/apps/nope"} {
		if code, _ := getWith(base+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token = %d, want 401", path, code)
		}
	}
	if code, _ := getWith(base+"/apps/nope", "Bearer "+token); code != http.StatusNotFound {
		t.Errorf("GET /apps/nope = %d, want 404", code)
	}

	ctx := browser(t)
	var dialogs atomic.Int32
	go func() {
		for _, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			dialogs.Add(1)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()

	// ?token= once: the cookie carries the session, the URL loses the token.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("table.matrix"))); err != nil {
		t.Fatalf("load /: %v\n%s", err, proc.out.String())
	}
	if loc := run(t, ctx, chromedp.Location()); loc != base+"/" {
		t.Errorf("location after the token %q", loc)
	}
	got := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("tr[data-app] td.cell")).map(td =>
		td.closest("tr").dataset.app + " " + td.dataset.env + " " + (td.querySelector(".version")?.textContent ?? "none"))`))
	want := gitMatrix(t, fleet)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("matrix in Chromium:\n got %q\nwant %q", got, want)
	}
	if !slices.Contains(got, "checkout dr 1.1.0") || !slices.Contains(got, "cart ppd main-3") {
		t.Errorf("the chain is not on the page: %q", got)
	}
	deny := run(t, ctx, chromedp.Text(chromedp.CSS("table.pending ul.deny li")))
	if deny != "cart waits for the <b>payments</b> freeze" {
		t.Errorf("deny reason on the page: %q", deny)
	}
	screenshot(t, ctx, "matrix.png")

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`tr[data-app="checkout"] td.app a`)), chromedp.WaitVisible(chromedp.CSS("table.timeline"))); err != nil {
		t.Fatalf("open checkout's history: %v", err)
	}
	if loc := run(t, ctx, chromedp.Location()); loc != base+"/apps/checkout" {
		t.Errorf("location after the click %q", loc)
	}
	subjects := run(t, ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.timeline .subject")).map(d => d.textContent)`))
	wantSubjects := []string{scriptSubject}
	for _, env := range []string{"dr", "prod", "ppd", "qa", "dev"} {
		wantSubjects = append(wantSubjects, "promote checkout 1.1.0 to "+env)
	}
	if !slices.Equal(subjects, wantSubjects) {
		t.Errorf("checkout's history:\n got %q\nwant %q", subjects, wantSubjects)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.scripts.length`)); n != 0 {
		t.Errorf("the page has %d script elements", n)
	}
	screenshot(t, ctx, "app.png")
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d dialogs opened", n)
	}
}

// getWith GETs url with an Authorization header (none when "").
func getWith(url, auth string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// gitMatrix is "app env version" of every overlay entry at the head.
func gitMatrix(t *testing.T, f *fleetRepo) []string {
	t.Helper()
	var out []string
	for _, env := range allEnvs {
		imgs, err := overlays.ReadImages([]byte(f.show(t, "overlays/"+env+"/kustomization.yaml")))
		if err != nil {
			t.Fatal(err)
		}
		for _, app := range []string{"checkout", "cart"} {
			for _, im := range imgs {
				if strings.HasSuffix(im.Name, "/shop/"+app) {
					out = append(out, app+" "+env+" "+im.NewTag)
				}
			}
		}
	}
	return out
}

// browser starts Debian's headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatalf("no chromium (run e2e/setup.sh): %v", err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now: a first Run and an event subscription racing
	// to start it would both wait for the other.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs one browser action, failing the test on an error.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// screenshot takes a full-page PNG. With FERRY_SCREENSHOTS=1 it replaces
// the review aids under testdata/dashboard; otherwise it goes to a temp
// dir, so a test run leaves the tree clean.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, chromedp.FullScreenshot(100))
	dir := t.TempDir()
	if os.Getenv("FERRY_SCREENSHOTS") == "1" {
		dir = filepath.Join("testdata", "dashboard")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
