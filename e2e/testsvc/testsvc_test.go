package testsvc

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestErrorRatio(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("checkout", "prod", "1.0.0", 0.2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `http_requests_total{app="checkout",code="500",env="prod",version="1.0.0"}`) &&
			strings.Contains(string(body), `http_requests_total{app="checkout",code="200",env="prod",version="1.0.0"}`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error and success counters after 10s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLatency(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Set("checkout", "prod", "1.0.0", 0)
	s.SetLatency("checkout", "prod", "1.0.0", 300*time.Millisecond)
	want := `http_request_duration_seconds_bucket{app="checkout",env="prod",version="1.0.0",le="0.25"} 0`
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), want) && strings.Contains(string(body), `http_request_duration_seconds_count{app="checkout",env="prod",version="1.0.0"}`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no latency histogram with every request above 250 ms:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
