// Package promtest runs a real Prometheus (Debian's /usr/bin/prometheus) on
// 127.0.0.1 for tests: scrape and rule evaluation every second, a temporary
// TSDB, killed when the test ends.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// readyWithin bounds start-up; Prometheus is ready in ~0.2 s here.
	readyWithin = 30 * time.Second
	// stopWithin bounds a graceful shutdown before the process is killed.
	stopWithin = 10 * time.Second
	pollEvery  = 50 * time.Millisecond
)

// Config says what the Prometheus scrapes, evaluates and alerts to.
type Config struct {
	// Targets to scrape every second: "host:port" (path /metrics) or a URL
	// such as "http://127.0.0.1:8080/custom/metrics". All share job "promtest".
	Targets []string
	// Rules is the content of one rule file (groups: ...), or empty.
	Rules string
	// Alertmanagers to send alerts to: "host:port" or a URL with a path prefix.
	Alertmanagers []string
}

// Server is a running Prometheus.
type Server struct {
	url     string
	cmd     *exec.Cmd
	exit    chan struct{} // closed when the process has exited
	logs    *bytes.Buffer // stdout and stderr; read only after exit
	targets int           // how many scrape targets it was given

	stopOnce sync.Once
}

// Start runs Prometheus scraping scrapeTargets with the rule file rules (may
// be empty) and waits until it is ready. It fails the test when the binary is
// missing (run e2e/setup.sh) or Prometheus does not become ready.
func Start(t testing.TB, scrapeTargets []string, rules string) *Server {
	t.Helper()
	return StartConfig(t, Config{Targets: scrapeTargets, Rules: rules})
}

// StartConfig is Start with alerting as well.
func StartConfig(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf, err := writeConfig(dir, cfg)
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	// The free port is found by closing a listener, so another process can
	// take it first; then Prometheus exits at once and another port is tried.
	var lastErr error
	for range 3 {
		s, err := launch(bin, conf, filepath.Join(dir, "data"))
		if err != nil {
			t.Fatalf("promtest: %v", err)
		}
		t.Cleanup(func() {
			s.Stop()
			if t.Failed() {
				t.Logf("promtest: Prometheus log:\n%s", tail(s.logs.String(), 4000))
			}
		})
		if lastErr = s.waitReady(); lastErr == nil {
			s.targets = len(cfg.Targets)
			return s
		}
		s.Stop()
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

// URL is the base URL of the Prometheus, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// Stop shuts Prometheus down and waits for it to exit; later calls do
// nothing. Tests call it to see what clients do when Prometheus is gone.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exit:
		case <-time.After(stopWithin):
			_ = s.cmd.Process.Kill()
			<-s.exit
		}
	})
}

// binary finds Prometheus on PATH, else at Debian's path.
func binary() (string, error) {
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/prometheus"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("promtest: prometheus is not installed (not on PATH, no %s): run e2e/setup.sh", debian)
	}
	return debian, nil
}

func launch(bin, conf, data string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logs := new(bytes.Buffer)
	cmd := exec.Command(bin,
		"--config.file="+conf,
		"--storage.tsdb.path="+data,
		"--web.listen-address="+addr,
		"--rules.alert.resend-delay=1s",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{url: "http://" + addr, cmd: cmd, exit: make(chan struct{}), logs: logs}
	go func() {
		_ = cmd.Wait()
		close(s.exit)
	}()
	return s, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or
// readyWithin passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyWithin)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/-/ready", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exit:
			return fmt.Errorf("prometheus exited before it was ready: %s\n%s", s.cmd.ProcessState, tail(s.logs.String(), 4000))
		case <-ctx.Done():
			return fmt.Errorf("prometheus at %s not ready within %s", s.url, readyWithin)
		case <-tick.C:
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// writeConfig writes prometheus.yml (as JSON, which is YAML, so every
// string is quoted safely) and the rule file, returning the config's path.
func writeConfig(dir string, cfg Config) (string, error) {
	groups := make([]map[string]any, 0, len(cfg.Targets))
	for _, target := range cfg.Targets {
		scheme, host, path, err := splitTarget(target, "/metrics")
		if err != nil {
			return "", fmt.Errorf("scrape target %q: %w", target, err)
		}
		groups = append(groups, map[string]any{
			"targets": []string{host},
			"labels":  map[string]string{"__scheme__": scheme, "__metrics_path__": path},
		})
	}
	conf := map[string]any{
		"global": map[string]string{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"scrape_configs": []map[string]any{{
			"job_name":       "promtest",
			"static_configs": groups,
		}},
	}
	if cfg.Rules != "" {
		rules := filepath.Join(dir, "rules.yml")
		if err := os.WriteFile(rules, []byte(cfg.Rules), 0o644); err != nil {
			return "", err
		}
		conf["rule_files"] = []string{rules}
	}
	if len(cfg.Alertmanagers) > 0 {
		var ams []map[string]any
		for _, target := range cfg.Alertmanagers {
			scheme, host, path, err := splitTarget(target, "/")
			if err != nil {
				return "", fmt.Errorf("alertmanager %q: %w", target, err)
			}
			ams = append(ams, map[string]any{
				"scheme":         scheme,
				"path_prefix":    path,
				"static_configs": []map[string]any{{"targets": []string{host}}},
			})
		}
		conf["alerting"] = map[string]any{"alertmanagers": ams}
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "prometheus.yml")
	return path, os.WriteFile(path, b, 0o644)
}

// splitTarget reads "host:port" or a URL into scheme, host:port and path.
func splitTarget(target, defaultPath string) (scheme, host, path string, err error) {
	if !strings.Contains(target, "://") {
		if _, _, err := net.SplitHostPort(target); err != nil {
			return "", "", "", err
		}
		return "http", target, defaultPath, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", "", "", err
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", "", errors.New("want http(s)://host:port/path without credentials or query")
	}
	if u.Path == "" {
		u.Path = defaultPath
	}
	return u.Scheme, u.Host, u.Path, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
