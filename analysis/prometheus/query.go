package prometheus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// maxPoints is Prometheus's own limit per series of a range query; checking
// it here gives a clearer error than the server's.
const maxPoints = 11000

// Sample is one value of an instant query. Labels is empty for a scalar or
// an aggregate without grouping. Value may be NaN or ±Inf.
type Sample struct {
	Value  float64
	Labels map[string]string
	Time   time.Time
}

// Series is one series of a range query, its points in time order.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is one value of a series. Value may be NaN or ±Inf.
type Point struct {
	Time  time.Time
	Value float64
}

// Instant evaluates query at time at (the zero time means now) and returns
// its single value. The query must give a scalar or a vector of exactly one
// series: no series is ErrNoData, several is an error (aggregate them, for
// example with sum(...)).
func (p *Provider) Instant(ctx context.Context, query string, at time.Time) (Sample, error) {
	samples, err := p.instant(ctx, query, at)
	if err != nil {
		return Sample{}, err
	}
	switch len(samples) {
	case 0:
		return Sample{}, p.wrap(query, ErrNoData)
	case 1:
		return samples[0], nil
	}
	return Sample{}, p.wrap(query, fmt.Errorf("returned %d series, want one: aggregate them, for example with sum(...)", len(samples)))
}

// InstantVector evaluates query at time at (the zero time means now) and
// returns every series' value, ordered by labels. No series is an empty
// slice, not an error: for a vector, "nothing matches" is an answer.
func (p *Provider) InstantVector(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	return p.instant(ctx, query, at)
}

func (p *Provider) instant(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	val, warnings, infos, err := p.api.Query(ctx, query, at, v1.WithTimeout(p.timeout))
	p.logNotes(ctx, query, warnings, infos)
	if err != nil {
		return nil, p.wrap(query, err)
	}
	switch v := val.(type) {
	case *model.Scalar:
		return []Sample{{Value: float64(v.Value), Labels: map[string]string{}, Time: v.Timestamp.Time()}}, nil
	case model.Vector:
		slices.SortFunc(v, func(a, b *model.Sample) int { return compareMetric(a.Metric, b.Metric) })
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			if s.Histogram != nil {
				return nil, p.wrap(query, fmt.Errorf("series %s is a native histogram: query a float of it, such as histogram_quantile(...) or histogram_count(...)", s.Metric))
			}
			out = append(out, Sample{Value: float64(s.Value), Labels: labels(s.Metric), Time: s.Timestamp.Time()})
		}
		return out, nil
	case nil:
		return nil, p.wrap(query, errors.New("empty result"))
	default:
		return nil, p.wrap(query, fmt.Errorf("result is a %s, want an instant vector or a scalar", v.Type()))
	}
}

// Range evaluates query from start to end every step and returns its
// series, ordered by labels. No series is an empty slice, not an error.
func (p *Provider) Range(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	switch {
	case step <= 0:
		return nil, p.wrap(query, fmt.Errorf("range step %s is not positive", step))
	case end.Before(start):
		return nil, p.wrap(query, fmt.Errorf("range end %s is before its start %s", end.Format(time.RFC3339), start.Format(time.RFC3339)))
	case float64(end.Sub(start))/float64(step) > maxPoints:
		return nil, p.wrap(query, fmt.Errorf("range %s at step %s exceeds %d points per series: use a larger step", end.Sub(start), step, maxPoints))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	val, warnings, infos, err := p.api.QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step}, v1.WithTimeout(p.timeout))
	p.logNotes(ctx, query, warnings, infos)
	if err != nil {
		return nil, p.wrap(query, err)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		if val == nil {
			return nil, p.wrap(query, errors.New("empty result"))
		}
		return nil, p.wrap(query, fmt.Errorf("result is a %s, want a range of series", val.Type()))
	}
	slices.SortFunc(m, func(a, b *model.SampleStream) int { return compareMetric(a.Metric, b.Metric) })
	out := make([]Series, 0, len(m))
	for _, ss := range m {
		if len(ss.Histograms) > 0 {
			return nil, p.wrap(query, fmt.Errorf("series %s holds native histograms: query a float of it, such as histogram_quantile(...)", ss.Metric))
		}
		pts := make([]Point, len(ss.Values))
		for i, sp := range ss.Values {
			pts[i] = Point{Time: sp.Timestamp.Time(), Value: float64(sp.Value)}
		}
		out = append(out, Series{Labels: labels(ss.Metric), Points: pts})
	}
	return out, nil
}

func labels(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}

func compareMetric(a, b model.Metric) int {
	switch {
	case a.Before(b):
		return -1
	case b.Before(a):
		return 1
	}
	return 0
}
