package faultproxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
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

// Close stops the proxy and its open connections.
func (h *HTTPProxy) Close() error { return h.srv.Close() }

func (h *HTTPProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.requests.Add(1)
	h.mu.Lock()
	f := h.fault
	h.mu.Unlock()
	switch {
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
