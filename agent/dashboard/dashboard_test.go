package dashboard

import (
	"bytes"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent"
	"github.com/ferry-dev/ferry/overlays"
)

var (
	rowRe     = regexp.MustCompile(`(?s)<tr data-app="([^"]+)">(.*?)</tr>`)
	cellRe    = regexp.MustCompile(`(?s)<td class="cell" data-env="([^"]+)">(.*?)</td>`)
	versionRe = regexp.MustCompile(`<div class="version">([^<]*)</div>`)
	subjectRe = regexp.MustCompile(`<div class="subject">([^<]*)</div>`)
)

// matrixOf reads "app env version" from the matrix the page shows.
func matrixOf(body string) []string {
	var out []string
	for _, row := range rowRe.FindAllStringSubmatch(body, -1) {
		for _, cell := range cellRe.FindAllStringSubmatch(row[2], -1) {
			v := "none"
			if m := versionRe.FindStringSubmatch(cell[2]); m != nil {
				v = m[1]
			}
			out = append(out, row[1]+" "+cell[1]+" "+v)
		}
	}
	return out
}

// matrixOfGit reads the same from the overlays at the bare repo's head.
func (f *realFleet) matrixOfGit(t *testing.T) []string {
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
	return out
}

func TestHomeShowsGitState(t *testing.T) {
	f := startRealFleet(t)
	h := New(f.src, Options{})
	w := get(t, h, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("GET / = %d\n%s", w.Code, w.Body)
	}
	body := w.Body.String()
	got, want := matrixOf(body), f.matrixOfGit(t)
	slices.Sort(got)
	slices.Sort(want)
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
		"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8",
	} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestAppHistory(t *testing.T) {
	f := startRealFleet(t)
	h := New(f.src, Options{HistoryLimit: 50})
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
			w := get(t, h, tt.path)
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s = %d\n%s", tt.path, w.Code, w.Body)
			}
			var got []string
			for _, m := range subjectRe.FindAllStringSubmatch(w.Body.String(), -1) {
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

func TestCommitSubjectIsText(t *testing.T) {
	f := startRealFleet(t)
	f.humanCommit(t, "<script>alert(1)</script>\n\nFerry-App: checkout")
	h := New(f.src, Options{})
	for _, path := range []string{"/", "/apps/checkout"} {
		body := get(t, h, path).Body.String()
		if !strings.Contains(body, `<div class="subject">&lt;script&gt;alert(1)&lt;/script&gt;</div>`) {
			t.Errorf("%s does not show the subject as text", path)
		}
		if strings.Contains(body, "<script") {
			t.Errorf("%s carries a script element", path)
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	f := startRealFleet(t)
	h := New(f.src, Options{})
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
			w := serve(h, r)
			if w.Code != tt.code {
				t.Fatalf("%s %s = %d, want %d\n%s", tt.method, tt.path, w.Code, tt.code, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.text) {
				t.Fatalf("%s %s: body lacks %q:\n%s", tt.method, tt.path, tt.text, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			if w.Header().Get("Content-Security-Policy") != CSP {
				t.Fatal("no CSP on an error page")
			}
		})
	}
}

func TestToken(t *testing.T) {
	f := startRealFleet(t)
	const token = "s3cret-token"
	var logs bytes.Buffer
	h := New(f.src, Options{Token: token, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	cookie := newGuard(token).cookie
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
		{"cookie", "/apps/checkout", []string{"Cookie", cookieName + "=" + cookie}, 200},
		{"raw token as cookie", "/", []string{"Cookie", cookieName + "=" + token}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, h, tt.target, tt.hdr...)
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
				if len(c) != 1 || c[0].Value != cookie || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != "/" {
					t.Fatalf("cookie %+v", c)
				}
			}
		})
	}
	if strings.Contains(logs.String(), token) {
		t.Fatal("the token reached the logs")
	}
}

func TestStarting(t *testing.T) {
	src := NewSource(func() *agent.Loop { return nil })
	h := New(src, Options{})
	for _, path := range []string{"/", "/apps/checkout", "/apps/checkout/qa"} {
		w := get(t, h, path)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s before the loop = %d (Retry-After %q)", path, w.Code, w.Header().Get("Retry-After"))
		}
		if !strings.Contains(w.Body.String(), "no reconcile pass has finished yet") {
			t.Errorf("GET %s: %s", path, w.Body)
		}
	}
}
