package registry

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// etagRegistry gives tag lists an ETag (the hash of the page) and answers
// If-None-Match with 304, as registries that support conditional requests do.
type etagRegistry struct {
	next               http.Handler
	lists, notModified atomic.Int64
	// constant gives every list the same ETag (a registry that gets it
	// wrong); a 304 carries the page's headers (Link) as RFC 9111 allows.
	constant bool
}

func (e *etagRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/tags/list") {
		e.next.ServeHTTP(w, r)
		return
	}
	e.lists.Add(1)
	rec := httptest.NewRecorder()
	e.next.ServeHTTP(rec, r)
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(rec.Body.Bytes()))
	if e.constant {
		etag = `"constant"`
	}
	if rec.Code == http.StatusOK && r.Header.Get("If-None-Match") == etag {
		e.notModified.Add(1)
		w.Header().Set("ETag", etag)
		if l := rec.Header().Get("Link"); l != "" {
			w.Header().Set("Link", l)
		}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if rec.Code == http.StatusOK {
		w.Header().Set("ETag", etag)
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// A registry that gives tag lists an ETag is asked with If-None-Match:
// an unchanged list comes back 304 and reads as before; a pushed tag
// changes the ETag and is listed.
func TestTagsConditional(t *testing.T) {
	reg := newRegistry()
	pushHost := serve(t, reg)
	push(t, pushHost+"/shop/checkout:1.0.0")
	e := &etagRegistry{next: reg}
	host := serve(t, e)
	repo := host + "/shop/checkout"
	c := NewClient(Options{RequestsPerSecond: -1})
	list := func() []string {
		t.Helper()
		tags, err := c.Tags(t.Context(), repo, false)
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	if got := list(); !slices.Equal(got, []string{"1.0.0"}) {
		t.Fatalf("first listing %v", got)
	}
	if got := list(); !slices.Equal(got, []string{"1.0.0"}) || e.notModified.Load() != 1 {
		t.Fatalf("second listing %v with %d 304s, want [1.0.0] from a 304", got, e.notModified.Load())
	}
	push(t, pushHost+"/shop/checkout:1.1.0")
	if got := list(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) || e.notModified.Load() != 1 {
		t.Fatalf("after a push: %v with %d 304s, want both tags from a 200", got, e.notModified.Load())
	}
	if got := list(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) || e.notModified.Load() != 2 {
		t.Fatalf("again: %v with %d 304s", got, e.notModified.Load())
	}
}

// Pages keep their Link header through a 304, so a paged listing reads
// whole.
func TestTagsConditionalPaged(t *testing.T) {
	reg := newRegistry()
	pushHost := serve(t, reg)
	var want []string
	for i := range 3 {
		tag := fmt.Sprintf("1.%d.0", i)
		push(t, pushHost+"/shop/checkout:"+tag)
		want = append(want, tag)
	}
	e := &etagRegistry{next: pageBy(1, reg)}
	host := serve(t, e)
	c := NewClient(Options{RequestsPerSecond: -1})
	for round := range 2 {
		tags, err := c.Tags(t.Context(), host+"/shop/checkout", false)
		if err != nil || !slices.Equal(tags, want) {
			t.Fatalf("round %d: %v, %v; want %v", round, tags, err, want)
		}
	}
	if n := e.notModified.Load(); n != 3 {
		t.Errorf("%d pages answered 304 in the second round, want 3", n)
	}
}

// A last page that is full keeps its body (and its ETag, over the body
// alone) when a tag sorts after it: the new tag is on a new page, named
// only by the Link header of the 304. The page kept takes that Link.
func TestTagsConditionalNewPage(t *testing.T) {
	reg := newRegistry()
	pushHost := serve(t, reg)
	var want []string
	for i := range 4 {
		tag := fmt.Sprintf("1.%d.0", i)
		push(t, pushHost+"/shop/checkout:"+tag)
		want = append(want, tag)
	}
	e := &etagRegistry{next: pageBy(2, reg)}
	host := serve(t, e)
	c := NewClient(Options{RequestsPerSecond: -1})
	list := func() []string {
		t.Helper()
		tags, err := c.Tags(t.Context(), host+"/shop/checkout", false)
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("first listing %v, want %v", got, want)
	}
	push(t, pushHost+"/shop/checkout:1.4.0")
	want = append(want, "1.4.0")
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("after a tag on a new page: %v, want %v (%d 304s)", got, want, e.notModified.Load())
	}
}

// ForgetTags makes the next listing unconditional: a push notification's
// tag is listed even by a registry whose ETag does not change.
func TestForgetTags(t *testing.T) {
	reg := newRegistry()
	pushHost := serve(t, reg)
	push(t, pushHost+"/shop/checkout:1.0.0")
	e := &etagRegistry{next: reg, constant: true}
	host := serve(t, e)
	c := NewClient(Options{RequestsPerSecond: -1})
	repo := host + "/shop/checkout"
	list := func() []string {
		t.Helper()
		tags, err := c.Tags(t.Context(), repo, false)
		if err != nil {
			t.Fatal(err)
		}
		return tags
	}
	list()
	push(t, pushHost+"/shop/checkout:1.1.0")
	if got := list(); !slices.Equal(got, []string{"1.0.0"}) {
		t.Fatalf("the wrong ETag should keep the old list: %v", got)
	}
	c.ForgetTags(host + "/shop/other") // another repository: kept
	if got := list(); !slices.Equal(got, []string{"1.0.0"}) {
		t.Fatalf("forgetting another repository dropped this one: %v", got)
	}
	c.ForgetTags(repo)
	if got := list(); !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Fatalf("after ForgetTags: %v, want both tags", got)
	}
}

// pageBy serves next's tag lists n tags a page, with Link headers, as
// distribution does.
func pageBy(n int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/tags/list") {
			next.ServeHTTP(w, r)
			return
		}
		all := r.Clone(r.Context())
		all.URL.RawQuery = ""
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, all)
		var list struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tags := list.Tags
		if last := r.URL.Query().Get("last"); last != "" {
			i := slices.Index(tags, last)
			tags = tags[i+1:]
		}
		if len(tags) > n {
			tags = tags[:n]
			w.Header().Set("Link", fmt.Sprintf(`<%s?n=%d&last=%s>; rel="next"`, r.URL.Path, n, tags[n-1]))
		}
		list.Tags = tags
		body, _ := json.Marshal(list)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}

// The pages kept for conditional requests stay under maxETagBytes however
// many repositories a long-running agent lists.
func TestETagCacheBounded(t *testing.T) {
	var c etagCache
	page := make([]byte, 64<<10)
	for i := range 4 * maxETagBytes / len(page) {
		c.put(fmt.Sprintf("http://r/v2/app%d/tags/list?n=1000", i), etagPage{etag: `"x"`, body: page})
		if c.bytes > maxETagBytes {
			t.Fatalf("after %d pages: %d bytes kept, over %d", i+1, c.bytes, maxETagBytes)
		}
	}
	if len(c.pages) == 0 {
		t.Error("nothing kept")
	}
}
