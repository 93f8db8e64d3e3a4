package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestValueAndValues: the methods the analysis package calls, against a
// real Prometheus.
func TestValueAndValues(t *testing.T) {
	t.Parallel()
	e, prom := startWithExporter(t)
	p := newProvider(t, prom.URL(), Options{})
	e.gauge.Set(3.5)
	eventually(t, "gauge at 3.5", func(ctx context.Context) error {
		v, err := p.Value(ctx, "ferry_test_gauge", time.Time{})
		if err == nil && v != 3.5 {
			err = fmt.Errorf("value %v", v)
		}
		return err
	})

	t.Run("value", func(t *testing.T) {
		tests := []struct {
			query string
			check func(float64) bool
			is    error
			err   string
		}{
			{query: "vector(2) * 3", check: func(v float64) bool { return v == 6 }},
			{query: "0/0", check: math.IsNaN},
			{query: `ferry_test_gauge{job="nope"}`, is: ErrNoData},
			{query: "ferry_test_pair", err: "returned 2 series, want one"},
		}
		for _, tt := range tests {
			v, err := p.Value(t.Context(), tt.query, time.Time{})
			switch {
			case tt.check != nil && (err != nil || !tt.check(v)):
				t.Errorf("Value(%q) = %v, %v", tt.query, v, err)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("Value(%q) error %v, want %v", tt.query, err, tt.is)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Value(%q) error %v, want one containing %q", tt.query, err, tt.err)
			}
		}
	})

	t.Run("values", func(t *testing.T) {
		end := time.Now()
		start := end.Add(-10 * time.Second)
		v, err := p.Values(t.Context(), "vector(7)", start, end, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) < 10 {
			t.Fatalf("%d points over 10s at 1s, want 11: %v", len(v), v)
		}
		for _, x := range v {
			if x != 7 {
				t.Fatalf("points %v, want all 7", v)
			}
		}
		if _, err := p.Values(t.Context(), `ferry_test_gauge{job="nope"}`, start, end, time.Second); !errors.Is(err, ErrNoData) {
			t.Errorf("no series: %v, want ErrNoData", err)
		}
		_, err = p.Values(t.Context(), "ferry_test_pair", start, end, time.Second)
		if err == nil || !strings.Contains(err.Error(), "returned 2 series, want one") || !strings.Contains(err.Error(), prom.URL()) {
			t.Errorf("two series: %v", err)
		}
		if _, err := p.Values(t.Context(), "vector(1)", start, end, 0); err == nil {
			t.Error("zero step accepted")
		}
	})
}
