package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkOPAServerHTTP asks an OPA server the decision BenchmarkDecide's
// prod/agent makes, as teams that run OPA beside their tools do: `opa run
// --server` (the binary FERRY_OPA names) on 127.0.0.1 with the default
// policies, one POST /v1/data/ferry/promotion per decision over a
// keep-alive connection, the input as the agent's gate builds it (JSON).
// Every answer is checked against ferry's decision. It reports the
// server's CPU time per decision beside the client's wall time.
func BenchmarkOPAServerHTTP(b *testing.B) {
	opa := os.Getenv("FERRY_OPA")
	if opa == "" {
		b.Skip("FERRY_OPA is not set to an opa binary")
	}
	dir := filepath.Join(b.TempDir(), "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, data := range DefaultFiles() {
		// opa run would load tests as policies and the schema as data.
		if strings.HasSuffix(name, "_test.rego") || name == SchemaFile {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	addr := freeAddr(b)
	var logs bytes.Buffer
	cmd := exec.Command(opa, "run", "--server", "--addr", addr, "--disable-telemetry", "--log-level", "error", dir)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	waitHealthy(b, client, "http://"+addr+"/health", &logs)

	input := agentInput(b, benchInput)
	want, err := defaultEngine(b).Decide(context.Background(), input)
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{"input": input})
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + addr + "/v1/data/ferry/promotion"
	ask := func() error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct {
			Result struct{ Deny, Warn []string }
		}
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s", resp.Status, msg)
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		slices.Sort(out.Result.Deny)
		slices.Sort(out.Result.Warn)
		if !slices.Equal(out.Result.Deny, want.Deny) || !slices.Equal(out.Result.Warn, want.Warn) {
			return fmt.Errorf("opa answers deny %q warn %q; ferry %q, %q", out.Result.Deny, out.Result.Warn, want.Deny, want.Warn)
		}
		return nil
	}
	if err := ask(); err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	cpu := serverCPU(cmd.Process.Pid)
	for b.Loop() {
		start := time.Now()
		err := ask()
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	if after := serverCPU(cmd.Process.Pid); cpu >= 0 && after >= cpu {
		b.ReportMetric(float64(after-cpu)/float64(b.N), "server-cpu-ns/op")
	}
	b.ReportMetric(pctMicros(took, 50), "p50-us")
	b.ReportMetric(pctMicros(took, 95), "p95-us")
}

// freeAddr is a 127.0.0.1 address with a port free a moment ago.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return addr
}

// waitHealthy waits for the server's /health to answer 200.
func waitHealthy(tb testing.TB, client *http.Client, url string, logs *bytes.Buffer) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("opa server not healthy after 30s (%v); its output:\n%s", err, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverCPU is the CPU time (user and system) of process pid, from
// /proc; -1 where there is none.
func serverCPU(pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}
