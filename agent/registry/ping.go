package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// pingTTL is how long a registry's answer to the API check is reused.
const pingTTL = time.Minute

// maxPingHosts bounds the hosts remembered; past it the cache starts over.
const maxPingHosts = 256

// errPlainHost fails an HTTPS API check of a host that answered over plain
// HTTP within pingTTL, without dialling: go-containerregistry then takes
// its plain-HTTP answer at once.
var errPlainHost = errors.New("this registry answered over plain HTTP")

// pingCache remembers each registry host's answer to the API check
// (GET /v2/ without credentials). go-containerregistry asks it once per
// repository before any other request: with 10,000 apps on one registry a
// fresh process asked 10,000 identical questions, and on a plain-HTTP
// (loopback or insecure) registry each came with a TLS handshake that
// fails first. The answer (200, or 401 with its challenge) is the host's,
// not a repository's, so it is kept per scheme and host for pingTTL; each
// repository's credentials and tokens are still its own.
type pingCache struct {
	mu    sync.Mutex
	hosts map[string]pingAnswer // scheme://host
	plain map[string]time.Time  // hosts that answered over http, when
}

type pingAnswer struct {
	status int
	header http.Header // WWW-Authenticate and the API version, nothing else
	at     time.Time
}

// isPing reports whether req is go-containerregistry's API check.
func isPing(req *http.Request) bool {
	return req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.URL.RawQuery == "" &&
		req.Header.Get("Authorization") == ""
}

// answer is the remembered answer to req, if there is a fresh one.
func (c *pingCache) answer(req *http.Request, now time.Time) (*http.Response, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.hosts[req.URL.Scheme+"://"+req.URL.Host]; ok && now.Sub(a.at) < pingTTL {
		return &http.Response{
			Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: a.header.Clone(), Body: http.NoBody, ContentLength: 0, Request: req,
		}, nil, true
	}
	if at, ok := c.plain[req.URL.Host]; ok && req.URL.Scheme == "https" && now.Sub(at) < pingTTL {
		return nil, fmt.Errorf("%s: %w", req.URL.Host, errPlainHost), true
	}
	return nil, nil, false
}

// store keeps resp's answer to the API check req: only the two answers
// go-containerregistry takes (200, 401 with its challenge).
func (c *pingCache) store(req *http.Request, resp *http.Response, now time.Time) {
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return
	}
	if resp.Request != nil && resp.Request.URL.String() != req.URL.String() {
		return // redirected: not the host's own answer
	}
	h := http.Header{}
	for _, k := range []string{"WWW-Authenticate", "Docker-Distribution-API-Version"} {
		for _, v := range resp.Header.Values(k) {
			h.Add(k, v)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hosts == nil || len(c.hosts) >= maxPingHosts {
		c.hosts = map[string]pingAnswer{}
	}
	if c.plain == nil || len(c.plain) >= maxPingHosts {
		c.plain = map[string]time.Time{}
	}
	c.hosts[req.URL.Scheme+"://"+req.URL.Host] = pingAnswer{status: resp.StatusCode, header: h, at: now}
	if req.URL.Scheme == "http" {
		c.plain[req.URL.Host] = now
	}
}

// fresh reports whether a fresh answer of reg is kept, over either scheme.
func (c *pingCache) fresh(reg name.Registry, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, scheme := range []string{"https", "http"} {
		if a, ok := c.hosts[scheme+"://"+reg.RegistryStr()]; ok && now.Sub(a.at) < pingTTL {
			return true
		}
	}
	return false
}

// warm asks reg's API check once for the calls that start together (a
// pass's first look-ups, as many as registry.concurrency): without it each
// asked its own before any answer was kept. The others wait for that one
// answer, or their ctx. A check that fails is the caller's error, as
// go-containerregistry's own check would have said it; the calls that
// waited for it ask again themselves.
func (c *Client) warm(ctx context.Context, reg name.Registry) error {
	if c.rt.pings.fresh(reg, c.rt.now()) {
		return nil
	}
	f := make(chan struct{})
	if other, loaded := c.warming.LoadOrStore(reg.RegistryStr(), f); loaded {
		select {
		case <-other.(chan struct{}):
		case <-ctx.Done():
		}
		return nil
	}
	defer func() {
		c.warming.Delete(reg.RegistryStr())
		close(f)
	}()
	_, err := transport.Ping(ctx, reg, c.rt)
	return err
}
