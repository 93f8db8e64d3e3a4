package dashboard

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzRouter sends arbitrary paths and queries to a dashboard over a real
// agent: no panic, no 500, and nothing from the URL comes back as markup.
func FuzzRouter(f *testing.F) {
	for _, seed := range []string{
		"/", "/apps/checkout", "/apps/checkout/qa", "/apps/cart/dr", "/apps/", "/apps//qa", "/apps/checkout/",
		"/apps/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "/apps/checkout/%22%3E%3Csvg%20onload=alert(1)%3E",
		"/apps/../../etc/passwd", "//evil.example/", "/apps/checkout?token=x", "/apps/a/b/c", "/%00", "/apps/%2F%2F",
		"/static/../apps/checkout", "/apps/checkout/qa?limit=-1",
	} {
		f.Add(seed)
	}
	fl := startRealFleet(f)
	h := New(fl.src, Options{})
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.NewRequest(http.MethodGet, "http://ferry.test"+target, nil)
		if err != nil || r.URL.Host != "ferry.test" {
			t.Skip()
		}
		w := serve(h, r)
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
