package policies

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestPrintDecision(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Decision
		data []DataFile
		text string
		json string
	}{
		{
			name: "allow with nil lists",
			d:    Decision{Allow: true},
			text: "allow\n",
			json: `{"allow":true,"deny":[],"warn":[],"data":[]}`,
		},
		{
			name: "allow with a warning",
			d:    Decision{Allow: true, Deny: []string{}, Warn: []string{"1.4.2 is older than 1.5.0"}},
			text: "allow\nwarn: 1.4.2 is older than 1.5.0\n",
			json: `{"allow":true,"deny":[],"warn":["1.4.2 is older than 1.5.0"],"data":[]}`,
		},
		{
			name: "deny: reasons then warnings, one per line",
			d:    Decision{Deny: []string{"no Trivy report", "multi\nline"}, Warn: []string{"w"}},
			text: "deny\ndeny: no Trivy report\ndeny: multi line\nwarn: w\n",
			json: `{"allow":false,"deny":["no Trivy report","multi\nline"],"warn":["w"],"data":[]}`,
		},
		{
			name: "data files listed in JSON only",
			d:    Decision{Deny: []string{"blocked"}},
			data: []DataFile{{File: "data.json", Path: "data"}, {File: "teams/data.yaml", Path: "data.teams"}},
			text: "deny\ndeny: blocked\n",
			json: `{"allow":false,"deny":["blocked"],"warn":[],"data":[{"file":"data.json","path":"data"},{"file":"teams/data.yaml","path":"data.teams"}]}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var text, js bytes.Buffer
			if err := PrintDecision(&text, tc.d, nil, false); err != nil {
				t.Fatal(err)
			}
			if text.String() != tc.text {
				t.Errorf("text %q, want %q", text.String(), tc.text)
			}
			if err := PrintDecision(&js, tc.d, tc.data, true); err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, js.Bytes()); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, js.String())
			}
			if compact.String() != tc.json {
				t.Errorf("json %s, want %s", compact.String(), tc.json)
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, bytes.ErrTooLarge }

func TestPrintDecisionWriteError(t *testing.T) {
	for _, js := range []bool{false, true} {
		if err := PrintDecision(failingWriter{}, Decision{Deny: []string{"x"}}, nil, js); err == nil {
			t.Errorf("json=%v: no error from a failing writer", js)
		}
	}
}
