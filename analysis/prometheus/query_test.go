package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/ferry-dev/ferry/analysis/prometheus/promtest"
)

// TestRealPrometheus queries a real Prometheus scraping an exporter whose
// gauge and counter the test moves.
func TestRealPrometheus(t *testing.T) {
	t.Parallel()
	e, prom := startWithExporter(t)
	p := newProvider(t, prom.URL(), Options{})
	instance := strings.TrimPrefix(e.srv.URL, "http://")

	t.Run("instant follows the gauge", func(t *testing.T) {
		for _, want := range []float64{42.5, -7.25, 0} {
			e.gauge.Set(want)
			var got Sample
			eventually(t, fmt.Sprintf("gauge at %v", want), func(ctx context.Context) error {
				var err error
				got, err = p.Instant(ctx, "ferry_test_gauge", time.Time{})
				if err == nil && got.Value != want {
					err = fmt.Errorf("value %v", got.Value)
				}
				return err
			})
			wantLabels := map[string]string{"__name__": "ferry_test_gauge", "job": "promtest", "instance": instance}
			if fmt.Sprint(got.Labels) != fmt.Sprint(wantLabels) {
				t.Errorf("labels %v, want %v", got.Labels, wantLabels)
			}
			if got.Time.IsZero() {
				t.Error("sample has no time")
			}
		}
	})

	t.Run("instant follows the counter", func(t *testing.T) {
		e.counter.Add(3)
		eventually(t, "counter at 3", func(ctx context.Context) error {
			s, err := p.Instant(ctx, `sum(ferry_test_requests_total{job="promtest"})`, time.Time{})
			if err == nil && s.Value != 3 {
				err = fmt.Errorf("value %v", s.Value)
			}
			if err == nil && len(s.Labels) != 0 {
				err = fmt.Errorf("sum has labels %v", s.Labels)
			}
			return err
		})
	})

	t.Run("instant at a time", func(t *testing.T) {
		at := time.Now().Add(-time.Hour).Truncate(time.Second)
		s, err := p.Instant(t.Context(), "vector(1)", at)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Time.Equal(at) {
			t.Errorf("sample time %s, want %s", s.Time, at)
		}
		if _, err := p.Instant(t.Context(), "ferry_test_gauge", at); !errors.Is(err, ErrNoData) {
			t.Errorf("gauge an hour before it existed: %v, want ErrNoData", err)
		}
	})

	values := []struct {
		query string
		check func(float64) bool
	}{
		{"scalar(ferry_test_pair{side=\"right\"}) * 2", func(v float64) bool { return v == 4 }},
		{"0/0", math.IsNaN},
		{"1/0", func(v float64) bool { return math.IsInf(v, 1) }},
		{"-1/0", func(v float64) bool { return math.IsInf(v, -1) }},
	}
	for _, tt := range values {
		t.Run("value of "+tt.query, func(t *testing.T) {
			s, err := p.Instant(t.Context(), tt.query, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(s.Value) {
				t.Errorf("value %v", s.Value)
			}
		})
	}

	errs := []struct {
		query    string
		is       error
		contains string
	}{
		{query: `ferry_test_gauge{job="nope"}`, is: ErrNoData, contains: "no data"},
		{query: "ferry_test_pair", contains: "returned 2 series, want one: aggregate them, for example with sum(...)"},
		{query: "sum(ferry_test_gauge", contains: "bad_data"},
		{query: `"hello"`, contains: `unexpected value type "string"`},
		{query: "ferry_test_gauge[10s]", contains: "result is a matrix"},
	}
	for _, tt := range errs {
		t.Run("error of "+tt.query, func(t *testing.T) {
			s, err := p.Instant(t.Context(), tt.query, time.Time{})
			if err == nil {
				t.Fatalf("Instant = %+v, want an error", s)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			for _, want := range []string{tt.contains, prom.URL(), fmt.Sprintf("%q", tt.query)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}

	t.Run("bad query is a v1.Error", func(t *testing.T) {
		_, err := p.Instant(t.Context(), "rate(", time.Time{})
		var apiErr *v1.Error
		if !errors.As(err, &apiErr) || apiErr.Type != v1.ErrBadData {
			t.Errorf("error %v is not a bad_data *v1.Error", err)
		}
	})

	t.Run("instant vector", func(t *testing.T) {
		got, err := p.InstantVector(t.Context(), "ferry_test_pair", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Labels["side"] != "left" || got[0].Value != 1 ||
			got[1].Labels["side"] != "right" || got[1].Value != 2 {
			t.Errorf("InstantVector = %+v, want left=1, right=2", got)
		}
		none, err := p.InstantVector(t.Context(), `ferry_test_pair{side="middle"}`, time.Time{})
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("empty InstantVector = %#v, %v; want an empty slice", none, err)
		}
	})

	t.Run("range", func(t *testing.T) {
		e.gauge.Set(5)
		eventually(t, "gauge at 5", func(ctx context.Context) error {
			s, err := p.Instant(ctx, "ferry_test_gauge", time.Time{})
			if err == nil && s.Value != 5 {
				err = fmt.Errorf("value %v", s.Value)
			}
			return err
		})
		step := 500 * time.Millisecond
		var series []Series
		eventually(t, "three points of 5", func(ctx context.Context) error {
			end := time.Now()
			var err error
			series, err = p.Range(ctx, "ferry_test_gauge == 5", end.Add(-time.Minute), end, step)
			switch {
			case err != nil:
				return err
			case len(series) != 1:
				return fmt.Errorf("%d series", len(series))
			case len(series[0].Points) < 3:
				return fmt.Errorf("%d points", len(series[0].Points))
			}
			return nil
		})
		if series[0].Labels["instance"] != instance {
			t.Errorf("labels %v, want instance %s", series[0].Labels, instance)
		}
		pts := series[0].Points
		for i, pt := range pts {
			if pt.Value != 5 {
				t.Errorf("point %d = %v, want 5", i, pt.Value)
			}
			if i > 0 && pt.Time.Sub(pts[i-1].Time)%step != 0 {
				t.Errorf("point %d at %s is off the %s step grid after %s", i, pt.Time, step, pts[i-1].Time)
			}
			if i > 0 && !pt.Time.After(pts[i-1].Time) {
				t.Errorf("point %d at %s is not after %s", i, pt.Time, pts[i-1].Time)
			}
		}

		end := time.Now()
		two, err := p.Range(t.Context(), "ferry_test_pair", end.Add(-10*time.Second), end, time.Second)
		if err != nil || len(two) != 2 || two[0].Labels["side"] != "left" || two[1].Labels["side"] != "right" {
			t.Errorf("Range of the pair = %+v, %v; want left then right", two, err)
		}
		none, err := p.Range(t.Context(), `ferry_test_pair{side="middle"}`, end.Add(-10*time.Second), end, time.Second)
		if err != nil || none == nil || len(none) != 0 {
			t.Errorf("empty Range = %#v, %v; want an empty slice", none, err)
		}
	})

	t.Run("range arguments", func(t *testing.T) {
		now := time.Now()
		tests := []struct {
			name       string
			start, end time.Time
			step       time.Duration
			want       string
		}{
			{"zero step", now.Add(-time.Minute), now, 0, "step 0s is not positive"},
			{"end before start", now, now.Add(-time.Minute), time.Second, "is before its start"},
			{"too many points", now.Add(-24 * time.Hour), now, time.Second, "exceeds 11000 points"},
			{"bad query", now.Add(-time.Minute), now, time.Second, "bad_data"},
		}
		for _, tt := range tests {
			query := "ferry_test_gauge"
			if tt.name == "bad query" {
				query = "ferry_test_gauge{"
			}
			_, err := p.Range(t.Context(), query, tt.start, tt.end, tt.step)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), prom.URL()) {
				t.Errorf("%s: error %v, want one naming %q and the server", tt.name, err, tt.want)
			}
		}
	})
}

// TestPrometheusStopped: a query to a Prometheus that is gone fails; it
// does not hang.
func TestPrometheusStopped(t *testing.T) {
	t.Parallel()
	prom := promtest.Start(t, nil, "")
	p := newProvider(t, prom.URL(), Options{})
	if _, err := p.Instant(t.Context(), "vector(1)", time.Time{}); err != nil {
		t.Fatalf("before stop: %v", err)
	}
	prom.Stop()

	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	_, err := p.Instant(ctx, "vector(1)", time.Time{})
	if err == nil {
		t.Fatal("query to a stopped Prometheus succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("query waited for the caller's deadline: %v", err)
	}
	if !strings.Contains(err.Error(), prom.URL()) {
		t.Errorf("error %q does not name the server", err)
	}
	if _, err := p.Range(ctx, "vector(1)", time.Now().Add(-time.Minute), time.Now(), time.Second); err == nil {
		t.Error("range query to a stopped Prometheus succeeded")
	}
}
