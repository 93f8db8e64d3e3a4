//go:build e2e

package e2e

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/e2e/faultproxy"
)

// boundedConfig has two apps on one registry, which ferry reaches through
// the HTTP fault proxy: cart's tag list is broken, checkout's is not.
const boundedConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, author: {name: ferry, email: ferry@example.com}}
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

// rssBound is generous on purpose: the point is "not 12 GB" (issue 18).
const rssBound = 512 << 20

// endlessStop ends the proxy's endless answer if ferry ever stops cutting
// it, so a regression fails on the figures instead of eating the machine.
const endlessStop = 256 << 20

// TestBoundedRegistry runs ferry run --once against the real registry
// behind the fault proxy, with cart's tag list broken two ways: a body that
// never ends, and a Link header that points to the page itself. checkout
// is promoted through every environment all the same; the run exits 1
// naming the registry, the repository and the limit; peak RSS stays
// bounded; paging stops.
func TestBoundedRegistry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faultproxy.HTTPFault
		want  string // in ferry's output
	}{
		{
			name:  "endless tag list",
			fault: faultproxy.HTTPFault{EndlessTags: true, EndlessMax: endlessStop, Repo: "shop/cart"},
			want:  "tag list for shop/cart: body exceeds 4 MiB",
		},
		{
			name:  "self-pointing Link",
			fault: faultproxy.HTTPFault{SelfLink: true, Repo: "shop/cart"},
			want:  "tag list for shop/cart: page 1 links to page 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := startRegistry(t, "", "")
			proxy, err := faultproxy.StartHTTP("http://" + reg.host)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			// The fleet names the registry by the proxy's address; pushes go
			// to the real one.
			fleet := startFleet(t, proxy.Addr(), boundedConfig)
			reg.push(t, "shop/checkout", "1.0.0")
			reg.push(t, "shop/cart", "main-1")
			proxy.Set(tc.fault)

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, ferryBin, "run", "--once", "--config", fleet.url, "--work-dir", t.TempDir())
			start := time.Now()
			outb, err := cmd.CombinedOutput()
			took := time.Since(start)
			out := string(outb)
			if cmd.ProcessState == nil {
				t.Fatalf("ferry did not run: %v", err)
			}
			code := cmd.ProcessState.ExitCode()
			rss := maxRSS(cmd.ProcessState) << 10
			_, faulted := proxy.Stats()
			lists, endless := proxy.TagLists()
			t.Logf("%s: exit %d in %s, peak RSS %.1f MiB, %d faulted (cart) tag-list requests, %d tag-list requests in all, %.1f MiB of endless body sent",
				tc.name, code, took.Round(time.Millisecond), float64(rss)/(1<<20), faulted, lists, float64(endless)/(1<<20))

			if code != 1 {
				t.Errorf("exit %d, want 1 (an app failed):\n%s", code, out)
			}
			wantErr := "registry " + proxy.Addr() + " " + tc.want
			if !strings.Contains(out, wantErr) {
				t.Errorf("output does not name the source and the limit (%q):\n%s", wantErr, out)
			}
			got := fleet.promotions(t)
			slices.Sort(got)
			want := chain("checkout", "1.0.0")
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("promotions:\n got %q\nwant %q (checkout through every environment, cart nowhere)", got, want)
			}
			if rss <= 0 || rss >= rssBound {
				t.Errorf("peak RSS %d bytes, want under %d", rss, rssBound)
			}
			if endless >= endlessStop {
				t.Errorf("the proxy sent its whole %d-byte safety stop: ferry read on", endless)
			}
			if tc.fault.SelfLink && faulted > 2 {
				// The loop is seen on the first repeated URL; the page limit
				// (1,000) would stop any other endless paging.
				t.Errorf("%d requests for cart's tag list, want the loop stopped at once", faulted)
			}
		})
	}
}
