// Package gitserver runs a real Git smart-HTTP server for tests and scripts:
// the git CLI's own `git http-backend` behind Go's net/http/cgi, listening on
// 127.0.0.1. It serves every bare repository under a root directory.
package gitserver

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Server is a running smart-HTTP git server.
type Server struct {
	root     string
	url      string
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	closeOne sync.Once
}

type config struct {
	addr  string
	user  string
	pass  string
	auth  bool
	hooks []func(*http.Request) bool
}

// Option configures Start.
type Option func(*config)

// WithBasicAuth makes the server answer 401 unless a request carries these
// basic-auth credentials.
func WithBasicAuth(user, pass string) Option {
	return func(c *config) { c.user, c.pass, c.auth = user, pass, true }
}

// WithHook runs fn before every request; when fn returns false the server
// answers 503 without touching the repository. Tests use it to count
// requests, delay them or inject failures. Hooks run in the order given.
func WithHook(fn func(r *http.Request) bool) Option {
	return func(c *config) { c.hooks = append(c.hooks, fn) }
}

// WithAddr sets the listen address (default 127.0.0.1:0, a free port).
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// Start serves the bare repositories under root until Close.
func Start(root string, opts ...Option) (*Server, error) {
	cfg := config{addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("gitserver root %q: %w", root, err)
	}
	backend, err := backendPath()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("gitserver listen on %s: %w", cfg.addr, err)
	}
	s := &Server{
		root: abs,
		url:  "http://" + ln.Addr().String(),
		ln:   ln,
		done: make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           handler(&cfg, backend, abs),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

func handler(cfg *config, backend, root string) http.Handler {
	cgiHandler := &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			// http-backend refuses pushes from anonymous users.
			"REMOTE_USER=ferry",
			// Keep the host's git configuration out of the server.
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"HOME=" + root,
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range cfg.hooks {
			if !h(r) {
				http.Error(w, "unavailable (test hook)", http.StatusServiceUnavailable)
				return
			}
		}
		if cfg.auth && !authorized(r, cfg.user, cfg.pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitserver"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	})
}

func authorized(r *http.Request, user, pass string) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(user)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1
	return uok && pok
}

func backendPath() (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("find git exec path (is git installed?): %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("find git-http-backend: %w", err)
	}
	return p, nil
}

// URL is the base URL, e.g. http://127.0.0.1:34567.
func (s *Server) URL() string { return s.url }

// RepoURL is the clone URL of the repository at root/name.
func (s *Server) RepoURL(name string) string {
	return s.url + "/" + strings.TrimPrefix(filepath.ToSlash(name), "/")
}

// Root is the directory whose bare repositories the server serves.
func (s *Server) Root() string { return s.root }

// Close stops the server and waits for it to exit. It is safe to call twice.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			_ = s.ln.Close()
		}
		<-s.done
	})
}
