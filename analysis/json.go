package analysis

import (
	"encoding/json"
	"math"
)

// MarshalJSON writes a value that is not a finite number as null.
func (m Measurement) MarshalJSON() ([]byte, error) {
	type plain Measurement // without this method
	out := struct {
		plain
		Value *float64 `json:"value"`
	}{plain: plain(m)}
	if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
		out.Value = &m.Value
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads null as NaN.
func (m *Measurement) UnmarshalJSON(b []byte) error {
	type plain Measurement
	in := struct {
		*plain
		Value *float64 `json:"value"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	m.Value = math.NaN()
	if in.Value != nil {
		m.Value = *in.Value
	}
	return nil
}
