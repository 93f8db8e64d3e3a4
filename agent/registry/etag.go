package registry

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Bounds of the tag lists kept for conditional requests.
const (
	// maxETagPage is the largest tag-list page kept: ten thousand tags.
	maxETagPage = 256 << 10
	// maxETagBytes bounds all pages kept; past it the cache starts over.
	maxETagBytes = 32 << 20
)

// etagCache keeps the tag-list pages a registry sent with an ETag, so the
// next listing asks with If-None-Match and a registry that supports it
// answers 304 Not Modified without sending the list again. The page is
// then handed to go-containerregistry as the 200 it was, Link header
// (pagination) included.
type etagCache struct {
	mu    sync.Mutex
	pages map[string]etagPage // by URL
	bytes int
}

type etagPage struct {
	etag, link, contentType string
	body                    []byte
}

func (c *etagCache) get(url string) (etagPage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pages[url]
	return p, ok
}

func (c *etagCache) put(url string, p etagPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pages[url]; ok {
		c.bytes -= len(old.body)
	}
	if c.pages == nil || c.bytes+len(p.body) > maxETagBytes {
		c.pages, c.bytes = map[string]etagPage{}, 0
	}
	c.pages[url] = p
	c.bytes += len(p.body)
}

// dropRepository forgets every tag-list page of one repository on host,
// so its next listing is asked in full.
func (c *etagCache) dropRepository(host, repo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := "/v2/" + repo + "/tags/list"
	for key, p := range c.pages {
		u, err := url.Parse(key)
		if err == nil && u.Host == host && strings.HasPrefix(u.Path, prefix) && (len(u.Path) == len(prefix)) {
			c.bytes -= len(p.body)
			delete(c.pages, key)
		}
	}
}

func (c *etagCache) drop(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pages[url]; ok {
		c.bytes -= len(old.body)
		delete(c.pages, url)
	}
}

// conditional adds If-None-Match to a tag-list request whose page is kept;
// it returns the request to send and the page (nil when none).
func (c *etagCache) conditional(req *http.Request) (*http.Request, *etagPage) {
	if req.Method != http.MethodGet || !describe(req).list || req.Header.Get("If-None-Match") != "" {
		return req, nil
	}
	p, ok := c.get(req.URL.String())
	if !ok {
		return req, nil
	}
	r := req.Clone(req.Context())
	r.Header.Set("If-None-Match", p.etag)
	return r, &p
}

// answer turns the registry's answer to a tag-list request into what
// go-containerregistry reads: a 304 to a conditional request becomes the
// kept page; a 200 with an ETag is kept for the next time.
func (c *etagCache) answer(req *http.Request, kept *etagPage, resp *http.Response) *http.Response {
	url := req.URL.String()
	switch {
	case kept != nil && resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		// The 304's headers update the page kept (RFC 9111, 4.3.4): an
		// ETag over the body alone says nothing of the Link header, and a
		// page that gained a next page keeps its body but not its Link.
		updated := *kept
		if l := resp.Header.Get("Link"); l != "" {
			updated.link = l
		}
		if e := resp.Header.Get("ETag"); e != "" {
			updated.etag = e
		}
		if updated.link != kept.link || updated.etag != kept.etag {
			c.put(url, updated)
			kept = &updated
		}
		out := &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(kept.body)), ContentLength: int64(len(kept.body)), Request: req,
		}
		out.Header.Set("ETag", kept.etag)
		out.Header.Set("Content-Length", strconv.Itoa(len(kept.body)))
		if kept.link != "" {
			out.Header.Set("Link", kept.link)
		}
		if kept.contentType != "" {
			out.Header.Set("Content-Type", kept.contentType)
		}
		return out
	case req.Method != http.MethodGet || !describe(req).list:
		return resp
	case resp.StatusCode == http.StatusNotFound:
		c.drop(url)
		return resp
	case resp.StatusCode != http.StatusOK:
		return resp // a 429, a 5xx: the page kept is still the last known
	case resp.Header.Get("ETag") == "" || resp.ContentLength < 0 || resp.ContentLength > maxETagPage:
		c.drop(url)
		return resp
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, resp.ContentLength+1))
	resp.Body.Close()
	if err != nil || int64(len(body)) != resp.ContentLength {
		// Hand on what came and the error, as the body would have.
		c.drop(url)
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return resp
	}
	c.put(url, etagPage{etag: resp.Header.Get("ETag"), link: resp.Header.Get("Link"), contentType: resp.Header.Get("Content-Type"), body: body})
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// errReader fails every read with err (io.ErrUnexpectedEOF when nil).
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.ErrUnexpectedEOF
	}
	return 0, e.err
}
