package analysis

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestMeasurementJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value float64
		want  string
	}{
		{0.25, `{"metric":"errors","at":"2026-11-25T18:00:00Z","phase":"Successful","value":0.25}`},
		{math.NaN(), `{"metric":"errors","at":"2026-11-25T18:00:00Z","phase":"Successful","value":null}`},
		{math.Inf(1), `{"metric":"errors","at":"2026-11-25T18:00:00Z","phase":"Successful","value":null}`},
	} {
		b, err := json.Marshal(Measurement{Metric: "errors", At: at, Value: tc.value, Phase: PhaseSuccessful})
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.value, b, err, tc.want)
			continue
		}
		var back Measurement
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back.Metric != "errors" || !back.At.Equal(at) || (back.Value != tc.value && !(math.IsNaN(back.Value) && (math.IsNaN(tc.value) || math.IsInf(tc.value, 0)))) {
			t.Errorf("round trip of %v: %+v", tc.value, back)
		}
	}
}
