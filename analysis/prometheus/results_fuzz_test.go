package prometheus

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// canned answers every request with one status and body, as a Prometheus
// (or a proxy in front of it) might.
type canned struct {
	status int
	body   []byte
}

func (c canned) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(c.body)),
		Request: req,
	}, nil
}

// FuzzQueryResult feeds arbitrary Prometheus API answers to Instant,
// InstantVector and Range: no panic, and what they accept keeps its
// promises (one sample from Instant, vectors and series ordered by labels,
// ErrNoData only for an empty vector). More seeds: testdata/fuzz.
func FuzzQueryResult(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.5"]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"2"},"value":[1700000000,"NaN"]},{"metric":{"a":"1"},"value":[1700000000,"+Inf"]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1700000000,"1"],[1700000001,"2"]]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1700000000,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"status":"success","data":{"resultType":"string","result":[1700000000,"x"]}}`,
		`{"status":"success","data":null}`,
		`{"status":"success","warnings":["w"],"infos":["i"],"data":{"resultType":"scalar","result":[1,"1"]}}`,
		`not json`, ``,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(422, []byte(`{"status":"error","errorType":"execution","error":"too many samples"}`))
	f.Add(503, []byte(`<html>down</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		p, err := New("http://prometheus.invalid", Options{RoundTripper: canned{status, body}, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		at := time.Unix(1700000000, 0)
		vec, verr := p.InstantVector(ctx, "q", at)
		if verr == nil && !slices.IsSortedFunc(vec, func(a, b Sample) int { return compareLabels(a.Labels, b.Labels) }) {
			t.Fatalf("InstantVector out of order: %v", vec)
		}
		s, err := p.Instant(ctx, "q", at)
		switch {
		case errors.Is(err, ErrNoData):
			if verr != nil || len(vec) != 0 {
				t.Fatalf("ErrNoData, but InstantVector gave %v, %v", vec, verr)
			}
		case err == nil:
			if verr != nil || len(vec) != 1 || s.Labels == nil {
				t.Fatalf("Instant = %v, but InstantVector gave %v, %v", s, vec, verr)
			}
		}
		series, err := p.Range(ctx, "q", at, at.Add(time.Minute), time.Second)
		if err == nil && !slices.IsSortedFunc(series, func(a, b Series) int { return compareLabels(a.Labels, b.Labels) }) {
			t.Fatalf("Range out of order: %v", series)
		}
	})
}

// compareLabels orders label sets as model.Metric.Before does.
func compareLabels(a, b map[string]string) int {
	return compareMetric(toMetric(a), toMetric(b))
}

func toMetric(m map[string]string) model.Metric {
	out := make(model.Metric, len(m))
	for k, v := range m {
		out[model.LabelName(k)] = model.LabelValue(v)
	}
	return out
}
