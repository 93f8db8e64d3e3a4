//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ferry-dev/ferry/e2e/gitea"
)

// oidcConfig is the README's sign-in: Gitea is the OpenID Connect
// provider, product owners approve in prod, the rest of the org sees.
const oidcConfig = `apiVersion: ferry.dev/v1alpha1
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
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - name: prod
    overlay: overlays/prod
    from: ppd
    auto: true
    approval: {required: 1, from: ["group:shop:product-owners"]}
dashboard:
  oidc: {issuer: ISSUER, clientID: CLIENTID, clientSecretFile: SECRETFILE, redirectURL: BASE/callback}
  roles:
    - {group: "shop:product-owners", role: approver, envs: [prod]}
    - {group: shop, role: viewer}
`

// quorum is the approval rule in a few lines of Rego: an environment with
// approval: takes a version once enough counted approvals are in.
const quorum = `package ferry.promotion

deny contains "no approvals known" if {
	input.environment.approval
	not input.evidence.approvals
}

deny contains sprintf("needs %d approval(s), has %d", [a.required, a.count]) if {
	input.environment.approval
	a := input.evidence.approvals
	a.count < a.required
}
`

// TestDashboardOIDCApprove: Gitea signs people in. carol (team
// product-owners of org shop) signs in through Gitea's login form and
// authorize page in headless Chromium, clicks Approve for checkout's
// candidate in prod, and the approval commit names her; dave (org shop, not
// the team) gets 403 for the same POST; forged POSTs (no CSRF token, another
// origin) get 403; none of the refused ones writes anything.
func TestDashboardOIDCApprove(t *testing.T) {
	srv := gitea.Start(t, gitea.Binary(t), gitea.WithOAuth2())
	const carolPW, davePW = "carol-Passw0rd!", "dave-Passw0rd!"
	srv.AddPerson(t, "carol", carolPW)
	srv.AddPerson(t, "dave", davePW)
	srv.AddOrg(t, "shop")
	srv.AddTeam(t, "shop", "product-owners", "carol")
	srv.AddTeam(t, "shop", "developers", "dave")

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + addr
	clientID, secret := srv.CreateOAuth2App(t, "ferry dashboard", base+"/callback")
	secretFile := writeFile(t, filepath.Join(t.TempDir(), "oidc-secret"), secret+"\n")

	reg := startRegistry(t, "", "")
	cfg := strings.NewReplacer("ISSUER", srv.Issuer(), "CLIENTID", clientID, "SECRETFILE", secretFile, "BASE", base).Replace(oidcConfig)
	fleet := startFleetWith(t, reg.host, cfg, map[string]string{"policies/approval.rego": quorum})
	for _, tag := range []string{"1.0.0", "1.1.0"} {
		reg.push(t, "shop/checkout", tag)
	}
	const token = "e2e-wall-screen"
	proc := startFerry(t, []string{"FERRY_DASHBOARD_TOKEN=" + token},
		"run", "--config", fleet.url, "--work-dir", t.TempDir(), "--listen", addr)

	// The token still reads (read-only): wait for prod to hold 1.1.0 for
	// approval.
	waitFor(t, 60*time.Second, "prod to await approval of 1.1.0", func() bool {
		code, body := getWith(base+"/pipeline", "Bearer "+token)
		i := strings.Index(body, `data-env="prod"`)
		return code == 200 && i >= 0 && strings.Contains(body[i:], `<div class="gate">`) && strings.Contains(body[i:], "1.1.0")
	})
	if strings.Contains(proc.out.String(), secret) {
		t.Fatal("the client secret is in ferry's output")
	}
	head := func() string { return strings.TrimSpace(fleet.git(t, "rev-parse", "main")) }
	before := head()

	// dave: signs in, sees no buttons, and his approve POST (with his own
	// session's CSRF token, from the sign-out form) is a 403.
	dave := noScriptBrowser(t)
	signInGitea(t, dave, base, "dave", davePW)
	if n := run(t, dave, chromedp.Evaluate[int](`document.querySelectorAll("button[data-action]").length`)); n != 0 {
		t.Errorf("dave is offered %d action buttons", n)
	}
	text := postFromPage(t, dave, base, "approve", true)
	if !strings.Contains(text, "approve needs the approver role in prod; dave has viewer there") {
		t.Errorf("dave's approval: %q", text)
	}

	// carol: a form without the CSRF token, then one from another origin
	// (a page of its own on another port: same site, so her cookie goes
	// along) with her real token.
	carol := noScriptBrowser(t)
	signInGitea(t, carol, base, "carol", carolPW)
	if text := postFromPage(t, carol, base, "approve", false); !strings.Contains(text, "403") || !strings.Contains(text, "CSRF token is missing") {
		t.Errorf("no CSRF token: %q", text)
	}
	if err := do(carol, goTo(base+"/pipeline"), chromedp.WaitVisible(chromedp.CSS(".whoami"))); err != nil {
		t.Fatal(err)
	}
	csrf := run(t, carol, chromedp.Evaluate[string](`document.querySelector('input[name="csrf"]').value`))
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><form method="post" action="%s/actions/approve">
<input name="app" value="checkout"><input name="env" value="prod"><input name="version" value="1.1.0">
<input name="csrf" value="%s"><button id="go" type="submit">win a prize</button></form>`, base, html.EscapeString(csrf))
	}))
	defer evil.Close()
	if err := do(carol, goTo(evil.URL), chromedp.Click(chromedp.CSS("#go")), chromedp.WaitVisible(chromedp.CSS("p.error-text"))); err != nil {
		t.Fatalf("the other origin's form: %v", err)
	}
	if text := run(t, carol, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "403") || !strings.Contains(text, "did not come from this dashboard") {
		t.Errorf("another origin: %q", text)
	}
	if h := head(); h != before {
		t.Fatalf("a refused action wrote: %s\n%s", h, fleet.git(t, "log", "--format=%s", before+".."+h))
	}

	// carol approves from the pipeline page.
	approve := `li.stage[data-env="prod"] form[action="/actions/approve"]`
	if err := do(carol, goTo(base+"/pipeline"), chromedp.WaitVisible(chromedp.CSS(approve+` button[data-action="approve"]`))); err != nil {
		t.Fatalf("carol's pipeline: %v", err)
	}
	screenshot(t, carol, "pipeline.png")
	if err := do(carol,
		chromedp.SendKeys(chromedp.CSS(approve+` input[name="reason"]`), "release notes reviewed"),
		chromedp.Click(chromedp.CSS(approve+` button[data-action="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS("p.result"))); err != nil {
		t.Fatalf("approve in Chromium: %v\n%s", err, proc.out.String())
	}
	if text := run(t, carol, chromedp.Text(chromedp.CSS("p.result"))); text != "carol approved checkout 1.1.0 in prod." {
		t.Errorf("result page: %q", text)
	}
	log := fleet.git(t, "log", "--format=%H%n%B%n--", before+"..main")
	if !strings.Contains(log, "approve checkout 1.1.0 for prod") || !strings.Contains(log, "Ferry-Approver: carol (dashboard)") {
		t.Fatalf("no approval commit naming carol:\n%s", log)
	}
	if votes := fleet.show(t, ".ferry/approvals.yaml"); !strings.Contains(votes, "by: carol") || !strings.Contains(votes, "shop:product-owners") {
		t.Errorf("approvals file:\n%s", votes)
	}
	out := proc.out.String()
	if !strings.Contains(out, `msg="dashboard action" user=carol`) || !strings.Contains(out, "action=approve app=checkout env=prod version=1.1.0") {
		t.Errorf("no audit line for carol:\n%s", out)
	}
	if !strings.Contains(out, `user=dave groups="[shop shop:developers]" action=approve app=checkout env=prod version=1.1.0 result="forbidden: not approver in prod"`) {
		t.Errorf("no audit line for dave's refusal:\n%s", out)
	}
	// The quorum is met: prod takes 1.1.0.
	waitFor(t, 60*time.Second, "prod to take 1.1.0", func() bool {
		for _, p := range fleet.promotions(t) {
			if p == "checkout prod 1.1.0" {
				return true
			}
		}
		return false
	})
	if strings.Contains(proc.out.String(), secret) {
		t.Fatal("the client secret is in ferry's output")
	}
}

// signInGitea opens the dashboard, which sends the browser to Gitea:
// its login form, then its authorize page, then back to the pipeline.
func signInGitea(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	if err := do(ctx, goTo(base+"/pipeline"),
		chromedp.WaitVisible(chromedp.CSS("#user_name")),
		chromedp.SendKeys(chromedp.CSS("#user_name"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("form button.ui.primary.button")),
		chromedp.WaitVisible(chromedp.CSS("#authorize-app")),
		chromedp.Click(chromedp.CSS("#authorize-app")),
		chromedp.WaitVisible(chromedp.CSS(".whoami"))); err != nil {
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(bctx, chromedp.Location())
		html, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		t.Fatalf("%s signing in: %v at %s\n%.3000s", user, err, loc, html)
	}
	if who := run(t, ctx, chromedp.Text(chromedp.CSS(".whoami strong"))); who != user {
		t.Fatalf("signed in as %q, want %s", who, user)
	}
}

// postFromPage posts an approval of checkout 1.1.0 in prod from the
// dashboard's own page (same origin), with the session's CSRF token or
// without one, and returns the answer page's text. DevTools' evaluation is
// not bound by the page's CSP; the page itself runs no script.
func postFromPage(t *testing.T, ctx context.Context, base, action string, withCSRF bool) string {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const tok = document.querySelector('input[name="csrf"]').value;
		const f = document.createElement("form");
		f.method = "post"; f.action = "/actions/%s";
		for (const [k, v] of Object.entries({app: "checkout", env: "prod", version: "1.1.0", reason: "forged"})) {
			const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i);
		}
		if (%t) { const i = document.createElement("input"); i.name = "csrf"; i.value = tok; f.appendChild(i); }
		document.body.appendChild(f); f.submit(); return true;
	})()`, action, withCSRF)
	if err := do(ctx, goTo(base+"/pipeline"),
		chromedp.WaitVisible(chromedp.CSS(".whoami"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatal(err)
	}
	if err := do(ctx, chromedp.WaitVisible(chromedp.CSS("p.error-text"))); err != nil {
		t.Fatal(err)
	}
	return run(t, ctx, chromedp.Text(chromedp.CSS("main")))
}

// goTo navigates without waiting for the load event (Gitea's pages, with
// their assets missing, may never fire it); the next step waits for what it
// needs.
func goTo(url string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
		if err == nil && res.ErrorText != "" {
			err = fmt.Errorf("navigate %s: %s", url, res.ErrorText)
		}
		return err
	})
}

// do runs browser steps with a bound: a page that never shows what a step
// waits for fails the test instead of hanging it.
func do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// noScriptBrowser is browser with the pages' own scripts off. Gitea's
// pages hang headless Chromium when the test build's frontend bundle is
// missing; its login and authorize forms work without JavaScript, and
// ferry's pages have none (the CSP forbids it). DevTools' evaluation still
// works.
func noScriptBrowser(t *testing.T) context.Context {
	t.Helper()
	ctx := browser(t)
	err := do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	if err != nil {
		t.Fatalf("turn off page scripts: %v", err)
	}
	return ctx
}
