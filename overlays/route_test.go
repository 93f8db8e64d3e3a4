package overlays

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var routeSpec = RouteSpec{
	Name:   "checkout",
	Stable: "checkout",
	Canary: "checkout-canary",
	Header: &HeaderMatch{Name: "x-ferry-canary", Value: "true"},
}

// routeCases are the golden cases under testdata/route/<name>: input.yaml edited to
// want gives expected.yaml. diff lists every line removed (-) or added (+).
var routeCases = []struct {
	name        string
	want        RouteState
	wantChanged bool
	diff        []string
}{
	{"canary-0-5", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"-      weight: 100", "+      weight: 95", "-      weight: 0", "+      weight: 5",
	}},
	{"canary-5-25", RouteState{StableWeight: 75, CanaryWeight: 25}, true, []string{
		"-      weight: 95 # stable", "+      weight: 75 # stable", "-      weight: 5 # canary", "+      weight: 25 # canary",
	}},
	{"canary-100-0", RouteState{StableWeight: 100, CanaryWeight: 0}, true, []string{
		"-      weight: 0", "+      weight: 100", "-      weight: 100", "+      weight: 0",
	}},
	{"blue-green-switch", RouteState{StableWeight: 0, CanaryWeight: 100}, true, []string{
		"-      weight: 100", "+      weight: 0", "-      weight: 0", "+      weight: 100",
	}},
	{"add-weight-field", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"+      weight: 95", "-      weight:", "+      weight: 5",
	}},
	{"add-canary-backendref", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"-      weight: 1", "+      weight: 95",
		"+    - name: checkout-canary", `+      group: ""`, "+      kind: Service", "+      port: 8080", "+      weight: 5",
	}},
	{"add-header-rule", RouteState{StableWeight: 100, HeaderMatch: true}, true, []string{
		"+  - matches:",
		"+    - path:",
		"+        type: PathPrefix",
		"+        value: /checkout",
		"+      headers:",
		"+      - name: x-ferry-canary",
		`+        value: "true"`,
		"+    - path:",
		"+        type: Exact",
		"+        value: /pay",
		"+      headers:",
		"+      - name: x-ferry-canary",
		`+        value: "true"`,
		"+    filters:",
		"+    - type: RequestHeaderModifier",
		"+      requestHeaderModifier:",
		"+        add:",
		"+        - name: x-served-by",
		"+          value: ferry",
		"+    backendRefs:",
		"+    - name: checkout-canary",
		"+      port: 80",
	}},
	{"remove-header-rule", RouteState{StableWeight: 100}, true, []string{
		"-  # A/B test: requests with the header go to the canary.",
		"-  - matches:", "-    - headers:", "-      - name: x-ferry-canary", `-        value: "true"`,
		"-    backendRefs:", "-    - name: checkout-canary", "-      port: 80",
	}},
	{"add-mirror-filter", RouteState{StableWeight: 100, Mirror: true}, true, []string{
		"+    filters:", "+    - type: RequestMirror", "+      requestMirror:", "+        backendRef:",
		"+          name: checkout-canary", "+          namespace: shop", "+          port: 80",
	}},
	{"add-mirror-existing-filters", RouteState{StableWeight: 100, Mirror: true}, true, []string{
		"+    - type: RequestMirror", "+      requestMirror:", "+        backendRef:",
		"+          name: checkout-canary", "+          port: 80",
	}},
	{"remove-mirror-filter", RouteState{StableWeight: 100}, true, []string{
		"-    filters:", "-    - type: RequestMirror", "-      requestMirror:", "-        backendRef:",
		"-          name: checkout-canary", "-          port: 80",
	}},
	{"remove-one-of-filters", RouteState{StableWeight: 100}, true, []string{
		"-    - type: RequestMirror", "-      requestMirror:", "-        backendRef:",
		"-          name: checkout-canary", "-          port: 80",
	}},
	{"comments-preserved", RouteState{StableWeight: 50, CanaryWeight: 50, Mirror: true}, true, []string{
		"-      weight: 100   # stable weight", "+      weight: 50   # stable weight",
		"-      weight: 0     # canary weight", "+      weight: 50     # canary weight",
		"+    filters:", "+    - type: RequestMirror", "+      requestMirror:", "+        backendRef:",
		"+          name: checkout-canary", "+          port: 80",
	}},
	{"indented-sequences", RouteState{StableWeight: 95, CanaryWeight: 5, HeaderMatch: true, Mirror: true}, true, []string{
		// The LCS pairs the new rule's lines with the stable rule's where they match.
		"+          headers:", "+            - name: x-ferry-canary", `+              value: "true"`,
		"+        - name: checkout-canary", "+          port: 80",
		"+    - matches:", "+        - path:", "+            type: PathPrefix", "+            value: /",
		"+      backendRefs:", "+          weight: 95",
		"+        - name: checkout-canary", "+          port: 80", "+          weight: 5",
		"+      filters:", "+        - type: RequestMirror", "+          requestMirror:", "+            backendRef:",
		"+              name: checkout-canary", "+              port: 80",
	}},
	{"four-space-indent", RouteState{StableWeight: 95, CanaryWeight: 5, HeaderMatch: true}, true, []string{
		"+    -   matches:", "+        -   headers:", "+            -   name: x-ferry-canary", `+                value: "true"`,
		"+        backendRefs:", "+        -   name: checkout-canary", "+            port: 80",
		"-            weight: 100", "+            weight: 95",
		"+        -   name: checkout-canary", "+            port: 80", "+            weight: 5",
	}},
	{"multi-document", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"-      weight: 100", "+      weight: 95", "-      weight: 0", "+      weight: 5",
	}},
	{"crlf", RouteState{StableWeight: 100, HeaderMatch: true}, true, []string{
		"+  - matches:\r", "+    - headers:\r", "+      - name: x-ferry-canary\r", "+        value: \"true\"\r",
		"+    backendRefs:\r", "+    - name: checkout-canary\r", "+      port: 80\r",
	}},
	{"flow-weights", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"-  - backendRefs: [{name: checkout, port: 80, weight: 100}, {name: checkout-canary, port: 80}]",
		"+  - backendRefs: [{name: checkout, port: 80, weight: 95}, {name: checkout-canary, port: 80, weight: 5}]",
	}},
	{"no-final-newline", RouteState{StableWeight: 95, CanaryWeight: 5}, true, []string{
		"+      weight: 95", "+    - name: checkout-canary", "+      port: 80", "+      weight: 5",
	}},
	{"noop", RouteState{StableWeight: 75, CanaryWeight: 25, HeaderMatch: true, Mirror: true}, false, nil},
}

func TestSetRouteGolden(t *testing.T) {
	for _, tc := range routeCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "route", tc.name)
			input, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			before, err := ReadRoute(input, routeSpec)
			if err != nil {
				t.Fatalf("ReadRoute(input): %v", err)
			}
			got, changed, err := SetRoute(input, routeSpec, tc.want)
			if err != nil {
				t.Fatalf("SetRoute(%+v): %v", tc.want, err)
			}
			if changed != tc.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tc.wantChanged)
			}
			golden := filepath.Join(dir, "expected.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			if d := lineDiff(string(input), string(got)); strings.Join(d, "\n") != strings.Join(tc.diff, "\n") {
				t.Errorf("diff input -> output:\n%q\nwant:\n%q", d, tc.diff)
			}
			if st, err := ReadRoute(got, routeSpec); err != nil || st != tc.want {
				t.Errorf("ReadRoute(output) = %+v, %v; want %+v", st, err, tc.want)
			}
			// The same edit again changes nothing; the way back restores what a
			// removal can (inserted lines go, weights come back).
			if again, c, err := SetRoute(got, routeSpec, tc.want); err != nil || c || !bytes.Equal(again, got) {
				t.Errorf("SetRoute again: changed=%v err=%v", c, err)
			}
			back, _, err := SetRoute(got, routeSpec, before)
			if err != nil {
				t.Fatalf("SetRoute back to %+v: %v", before, err)
			}
			if st, err := ReadRoute(back, routeSpec); err != nil || st != before {
				t.Errorf("ReadRoute after the way back = %+v, %v; want %+v", st, err, before)
			}
		})
	}
}

// TestSetRouteRoundTrip: adding then removing the header rule and the mirror gives
// the input back byte for byte.
func TestSetRouteRoundTrip(t *testing.T) {
	for _, name := range []string{"canary-0-5", "comments-preserved", "indented-sequences", "four-space-indent", "multi-document", "crlf", "add-header-rule"} {
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(filepath.Join("testdata", "route", name, "input.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			st, err := ReadRoute(input, routeSpec)
			if err != nil {
				t.Fatal(err)
			}
			on := st
			on.HeaderMatch, on.Mirror = true, true
			mid, changed, err := SetRoute(input, routeSpec, on)
			if err != nil || !changed {
				t.Fatalf("SetRoute on: changed=%v err=%v", changed, err)
			}
			out, _, err := SetRoute(mid, routeSpec, st)
			if err != nil {
				t.Fatalf("SetRoute off: %v", err)
			}
			if !bytes.Equal(out, input) {
				t.Errorf("round trip differs:\n--- got\n%s\n--- want\n%s", out, input)
			}
		})
	}
}

func TestSetRouteNoChangeReturnsInput(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "route", "noop", "input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, changed, err := SetRoute(in, routeSpec, RouteState{StableWeight: 75, CanaryWeight: 25, HeaderMatch: true, Mirror: true})
	if err != nil || changed || &out[0] != &in[0] {
		t.Fatalf("changed=%v err=%v, same slice=%v", changed, err, err == nil && &out[0] == &in[0])
	}
}

func TestReadRoute(t *testing.T) {
	const head = "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n"
	cases := []struct {
		name, doc string
		spec      RouteSpec
		want      RouteState
	}{
		{"defaults: no weights, no canary ref", head + "  - backendRefs: [{name: checkout}]\n", routeSpec, RouteState{StableWeight: 1}},
		{"canary ref without weight", head + "  - backendRefs: [{name: checkout}, {name: checkout-canary}]\n", routeSpec, RouteState{StableWeight: 1, CanaryWeight: 1}},
		{"null weight is the default", head + "  - backendRefs: [{name: checkout, weight: ~}]\n", routeSpec, RouteState{StableWeight: 1}},
		{"header names compare case-insensitively", head + "  - matches: [{headers: [{name: X-Ferry-CANARY, value: 'true'}]}]\n    backendRefs: [{name: checkout-canary}]\n  - backendRefs: [{name: checkout, weight: 3}]\n", routeSpec, RouteState{StableWeight: 3, HeaderMatch: true}},
		{"another header value is not the A/B rule", head + "  - matches: [{headers: [{name: x-ferry-canary, value: 'no'}]}]\n    backendRefs: [{name: checkout-canary}]\n  - backendRefs: [{name: checkout}]\n", routeSpec, RouteState{StableWeight: 1}},
		{"without a spec header any header rule counts", head + "  - matches: [{headers: [{name: x, value: y}]}]\n    backendRefs: [{name: checkout-canary}]\n  - backendRefs: [{name: checkout}]\n", RouteSpec{Name: "checkout", Stable: "checkout", Canary: "checkout-canary"}, RouteState{StableWeight: 1, HeaderMatch: true}},
		{"a rule mixing backends is not the A/B rule", head + "  - matches: [{headers: [{name: x-ferry-canary, value: 'true'}]}]\n    backendRefs: [{name: checkout-canary}, {name: other}]\n  - backendRefs: [{name: checkout}]\n", routeSpec, RouteState{StableWeight: 1}},
		{"mirror to another service", head + "  - backendRefs: [{name: checkout}]\n    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: other}}}]\n", routeSpec, RouteState{StableWeight: 1}},
		{"first stable rule wins", head + "  - backendRefs: [{name: checkout, weight: 7}]\n  - backendRefs: [{name: checkout, weight: 9}]\n", routeSpec, RouteState{StableWeight: 7}},
		{"BOM", "\xef\xbb\xbf" + head + "  - backendRefs: [{name: checkout, weight: 2}]\n", routeSpec, RouteState{StableWeight: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRoute([]byte(tc.doc), tc.spec)
			if err != nil || got != tc.want {
				t.Errorf("ReadRoute = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	const head = "kind: HTTPRoute\nmetadata:\n  name: checkout\nspec:\n  rules:\n"
	ok := head + "  - backendRefs:\n    - name: checkout\n      port: 80\n"
	noHeader := routeSpec
	noHeader.Header = nil
	cases := []struct {
		name, doc string
		spec      RouteSpec
		want      RouteState
		wantIs    error
		msg       string
	}{
		{"not YAML", "kind: [\n", routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "invalid route file: yaml: line 1:"},
		{"no such route", strings.Replace(ok, "name: checkout\nspec", "name: other\nspec", 1), routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "no HTTPRoute named checkout"},
		{"not an HTTPRoute", strings.Replace(ok, "HTTPRoute", "GRPCRoute", 1), routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "no HTTPRoute named checkout"},
		{"two routes with the name", ok + "---\n" + ok, routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "line 10: a second HTTPRoute named checkout (first at line 1)"},
		{"no stable rule", strings.Replace(ok, "- name: checkout", "- name: cart", 1), routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "line 6: HTTPRoute checkout has no rule with a backendRef to checkout"},
		{"no rules", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec: {}\n", routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "has no spec.rules"},
		{"rules not a list", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules: x\n", routeSpec, RouteState{StableWeight: 1}, ErrInvalid, `line 4: spec.rules is a scalar ("x"); want a list`},
		{"quoted weight", ok + "      weight: \"5\"\n", routeSpec, RouteState{StableWeight: 1}, ErrInvalid, `line 9: weight a scalar ("5") is not an integer from 0 to 1000000`},
		{"negative weight in file", ok + "      weight: -1\n", routeSpec, RouteState{StableWeight: 1}, ErrInvalid, "line 9: weight"},
		{"negative weight wanted", ok, routeSpec, RouteState{StableWeight: -1, CanaryWeight: 5}, nil, "weights stable -1, canary 5: negative"},
		{"weight too large", ok, routeSpec, RouteState{StableWeight: 1, CanaryWeight: 2000000}, nil, "above the Gateway API's 1000000"},
		{"both weights 0", ok, routeSpec, RouteState{}, nil, "nothing would serve the route"},
		{"header wanted without spec header", ok, noHeader, RouteState{StableWeight: 1, HeaderMatch: true}, nil, "the route spec has no header"},
		{"empty route name", ok, RouteSpec{Stable: "a", Canary: "b"}, RouteState{StableWeight: 1}, nil, "route name is empty"},
		{"bad service name", ok, RouteSpec{Name: "checkout", Stable: "Checkout", Canary: "b"}, RouteState{StableWeight: 1}, nil, `stable backend "Checkout": not a Service name`},
		{"same backends", ok, RouteSpec{Name: "checkout", Stable: "a", Canary: "a"}, RouteState{StableWeight: 1}, nil, `stable and canary backends are both "a"`},
		{"bad header name", ok, RouteSpec{Name: "checkout", Stable: "checkout", Canary: "c", Header: &HeaderMatch{Name: "x y", Value: "1"}}, RouteState{StableWeight: 1}, nil, `header name "x y"`},
		{"header value with newline", ok, RouteSpec{Name: "checkout", Stable: "checkout", Canary: "c", Header: &HeaderMatch{Name: "x", Value: "a\nb"}}, RouteState{StableWeight: 1}, nil, "printable"},
		{"flow list for a new backendRef", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - backendRefs: [{name: checkout}]\n", routeSpec, RouteState{StableWeight: 1, CanaryWeight: 1}, ErrUnsupported, "line 5: backendRefs is a flow-style list"},
		{"flow rules for the header rule", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules: [{backendRefs: [{name: checkout}]}]\n", routeSpec, RouteState{StableWeight: 1, HeaderMatch: true}, ErrUnsupported, "line 4: spec.rules is a flow-style list"},
		{"flow rule for the mirror", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - {backendRefs: [{name: checkout}]}\n", routeSpec, RouteState{StableWeight: 1, Mirror: true}, ErrUnsupported, "line 5: the stable rule is flow-style"},
		{"anchors", "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n  - backendRefs:\n    - &s {name: checkout}\n", routeSpec, RouteState{StableWeight: 2}, ErrUnsupported, "line 6: the HTTPRoute uses a YAML anchor or alias"},
		{"lone carriage return", ok + "\r#x\n", routeSpec, RouteState{StableWeight: 2}, ErrUnsupported, "a line break other than LF or CRLF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := SetRoute([]byte(tc.doc), tc.spec, tc.want)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

// TestSetRouteLayouts covers layouts the goldens do not: null and empty filters, a
// key on a list item's dash line, items whose dash stands alone.
func TestSetRouteLayouts(t *testing.T) {
	const head = "kind: HTTPRoute\nmetadata: {name: checkout}\nspec:\n  rules:\n"
	mirror := "    - type: RequestMirror\n      requestMirror:\n        backendRef:\n          name: checkout-canary\n"
	cases := []struct {
		name, in string
		want     RouteState
		out      string
	}{
		{"null filters gain the mirror", head + "  - filters:\n    backendRefs:\n    - name: checkout\n",
			RouteState{StableWeight: 1, Mirror: true},
			head + "  - filters:\n" + mirror + "    backendRefs:\n    - name: checkout\n"},
		{"empty flow filters become a block list", head + "  - filters: [] # none\n    backendRefs:\n    - name: checkout\n",
			RouteState{StableWeight: 1, Mirror: true},
			head + "  - filters: # none\n" + mirror + "    backendRefs:\n    - name: checkout\n"},
		{"filters on the dash line are removed, the next key moves up", head + "  - filters:\n" + mirror + "    backendRefs: [{name: checkout}]\n",
			RouteState{StableWeight: 1},
			head + "  - backendRefs: [{name: checkout}]\n"},
		{"items with lone dashes", head + "  -\n    backendRefs:\n    -\n      name: checkout\n",
			RouteState{StableWeight: 3, CanaryWeight: 1},
			head + "  -\n    backendRefs:\n    -\n      name: checkout\n      weight: 3\n    - name: checkout-canary\n      weight: 1\n"},
		{"whole flow route, weight in place", "{kind: HTTPRoute, metadata: {name: checkout}, spec: {rules: [{backendRefs: [{name: checkout, weight: 3}]}]}}",
			RouteState{StableWeight: 4},
			"{kind: HTTPRoute, metadata: {name: checkout}, spec: {rules: [{backendRefs: [{name: checkout, weight: 4}]}]}}"},
		{"tagged weight keeps its tag", head + "  - backendRefs:\n    - name: checkout\n      weight: !!int 4\n",
			RouteState{StableWeight: 3},
			head + "  - backendRefs:\n    - name: checkout\n      weight: !!int 3\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := SetRoute([]byte(tc.in), routeSpec, tc.want)
			if err != nil || !changed {
				t.Fatalf("SetRoute: changed=%v err=%v", changed, err)
			}
			if string(out) != tc.out {
				t.Errorf("got\n%s\nwant\n%s", out, tc.out)
			}
		})
	}
}
