package prometheus

import (
	"context"
	"fmt"
	"time"
)

// Value is the single value of an instant query at at (zero: now), as the
// analysis package's Provider wants it: no series is ErrNoData, several
// is an error.
func (p *Provider) Value(ctx context.Context, query string, at time.Time) (float64, error) {
	s, err := p.Instant(ctx, query, at)
	if err != nil {
		return 0, err
	}
	return s.Value, nil
}

// Values are the points of a range query that must give exactly one
// series: no series is ErrNoData, several is an error (aggregate them).
func (p *Provider) Values(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]float64, error) {
	series, err := p.Range(ctx, query, start, end, step)
	if err != nil {
		return nil, err
	}
	switch len(series) {
	case 0:
		return nil, p.wrap(query, ErrNoData)
	case 1:
	default:
		return nil, p.wrap(query, fmt.Errorf("returned %d series, want one: aggregate them, for example with sum(...)", len(series)))
	}
	out := make([]float64, len(series[0].Points))
	for i, pt := range series[0].Points {
		out[i] = pt.Value
	}
	return out, nil
}
