package faultproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPFault is the HTTP proxy's current behaviour. The zero value passes
// every request through.
type HTTPFault struct {
	// Status, when set, answers every request with it (429, 500, 503...)
	// without calling the server.
	Status int
	// RetryAfter is sent with Status as Retry-After (seconds) when set.
	RetryAfter int
	// SlowBody, when set, sends the server's answer in chunks of
	// SlowChunk bytes (default 64) with this pause between them.
	SlowBody  time.Duration
	SlowChunk int
	// EndlessTags answers every registry tag-list request
	// (/v2/<name>/tags/list) with 200 and a JSON tag list that never ends
	// ({"name":..,"tags":["1.0.0","1.0.1",...), until the client hangs up
	// or EndlessMax bytes of that answer were sent (0: no end), a safety
	// stop for tests of clients that might not stop. Other requests pass.
	EndlessTags bool
	EndlessMax  int64
	// SelfLink passes tag-list requests to the server and adds a Link
	// header naming the request itself as the next page, so a client that
	// follows Link pages forever. Other requests pass.
	SelfLink bool
	// Repo, when set, limits EndlessTags and SelfLink to that repository's
	// tag list ("shop/cart"), so other apps on the registry stay healthy.
	Repo string
}

// HTTPProxy is a reverse proxy on 127.0.0.1 to one HTTP server.
type HTTPProxy struct {
	srv   *http.Server
	ln    net.Listener
	proxy *httputil.ReverseProxy

	mu    sync.Mutex
	fault HTTPFault

	requests atomic.Int64
	faulted  atomic.Int64
	tagLists atomic.Int64
	sent     atomic.Int64 // bytes of endless tag lists written
}

// StartHTTP serves a reverse proxy to target (a base URL such as
// http://127.0.0.1:9090).
func StartHTTP(target string) (*HTTPProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fault proxy: target %q is not a URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy to %s: listen: %w", target, err)
	}
	h := &HTTPProxy{ln: ln, proxy: httputil.NewSingleHostReverseProxy(u)}
	// Keep the client's Host so registries name themselves as the client
	// addressed them (token realms, Location headers).
	dir := h.proxy.Director
	h.proxy.Director = func(r *http.Request) {
		host := r.Host
		dir(r)
		r.Host = host
	}
	h.proxy.FlushInterval = -1 // slow bodies reach the client as they are written
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

// Addr is the proxy's host:port.
func (h *HTTPProxy) Addr() string { return h.ln.Addr().String() }

// URL is the proxy's base URL.
func (h *HTTPProxy) URL() string { return "http://" + h.Addr() }

// Set switches the fault for the next requests.
func (h *HTTPProxy) Set(f HTTPFault) {
	h.mu.Lock()
	h.fault = f
	h.mu.Unlock()
}

// Clear passes every request through again.
func (h *HTTPProxy) Clear() { h.Set(HTTPFault{}) }

// Stats returns requests seen and requests a fault answered or slowed.
func (h *HTTPProxy) Stats() (requests, faulted int64) {
	return h.requests.Load(), h.faulted.Load()
}

// TagLists counts tag-list requests, whatever the fault; EndlessBytes is
// what the endless tag lists wrote in all (a client that stops reading
// stops it, give or take the sockets' buffers).
func (h *HTTPProxy) TagLists() (requests, endlessBytes int64) {
	return h.tagLists.Load(), h.sent.Load()
}

// Close stops the proxy and its open connections.
func (h *HTTPProxy) Close() error { return h.srv.Close() }

func (h *HTTPProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.mu.Lock()
	f := h.fault
	h.mu.Unlock()
	tagList := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/") && strings.HasSuffix(r.URL.Path, "/tags/list")
	if tagList {
		h.tagLists.Add(1)
		if f.Repo != "" && r.URL.Path != "/v2/"+f.Repo+"/tags/list" {
			tagList = false // not the faulted repository
		}
	}
	switch {
	case f.EndlessTags && tagList:
		h.faulted.Add(1)
		h.endlessTags(w, r, f.EndlessMax)
	case f.SelfLink && tagList:
		h.faulted.Add(1)
		// The reverse proxy adds the server's headers to these.
		w.Header().Set("Link", fmt.Sprintf("<%s>; rel=\"next\"", r.URL.RequestURI()))
		h.proxy.ServeHTTP(w, r)
	case f.Status != 0:
		h.faulted.Add(1)
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		http.Error(w, http.StatusText(f.Status)+" (fault proxy)", f.Status)
	case f.SlowBody > 0:
		h.faulted.Add(1)
		chunk := f.SlowChunk
		if chunk <= 0 {
			chunk = 64
		}
		h.proxy.ServeHTTP(&slowWriter{ResponseWriter: w, pause: f.SlowBody, chunk: chunk, ctx: r}, r)
	default:
		h.proxy.ServeHTTP(w, r)
	}
}

// endlessTags streams {"name":"<repo>","tags":["1.0.0","1.0.1",... in
// flushed chunks until the client goes away or max bytes are out.
func (h *HTTPProxy) endlessTags(w http.ResponseWriter, r *http.Request, max int64) {
	repo := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	buf := []byte(fmt.Sprintf(`{"name":%q,"tags":["1.0.0"`, repo))
	flusher, _ := w.(http.Flusher)
	var sent int64
	for i := 1; ; i++ {
		buf = fmt.Appendf(buf, `,"1.%d.%d"`, i/1000, i%1000)
		if len(buf) < 32<<10 {
			continue
		}
		if max > 0 && sent+int64(len(buf)) > max {
			return
		}
		n, err := w.Write(buf)
		sent += int64(n)
		h.sent.Add(int64(n))
		if err != nil || r.Context().Err() != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		buf = buf[:0]
	}
}

// slowWriter trickles the body out, flushing each chunk.
type slowWriter struct {
	http.ResponseWriter
	pause time.Duration
	chunk int
	ctx   *http.Request
}

func (s *slowWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(s.chunk, len(p))
		m, err := s.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[n:]
		select {
		case <-time.After(s.pause):
		case <-s.ctx.Context().Done():
			return written, s.ctx.Context().Err()
		}
	}
	return written, nil
}

// Flush lets the reverse proxy flush through the wrapper.
func (s *slowWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
