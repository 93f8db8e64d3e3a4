package analysis_test

import (
	"fmt"

	"github.com/ferry-dev/ferry/analysis"
)

// ExampleJudgeRun: the canary fails on its error ratio (all six points
// above the baseline's ten: U = 60, p with tie correction 0.0012) and passes
// on throughput; equal weights make the score 50.
func ExampleJudgeRun() {
	baseline := []float64{0.004, 0.005, 0.004, 0.006, 0.005, 0.004, 0.005, 0.006, 0.004, 0.005}
	canary := []float64{0.052, 0.049, 0.055, 0.050, 0.051, 0.048}
	rep := analysis.JudgeRun(analysis.Judge{}, []analysis.JudgeMetric{
		{Name: "error-ratio", Direction: "increase", Canary: canary, Baseline: baseline},
		{Name: "throughput", Direction: "decrease", Canary: []float64{198, 201, 203, 199}, Baseline: []float64{200, 202, 199, 201, 198}},
	})
	fmt.Println(rep.Verdict, rep.Score)
	for _, m := range rep.Metrics {
		fmt.Println(m.Explanation)
	}
	// Output:
	// Failed 50
	// error-ratio: canary median 0.0505 vs baseline 0.005 (+910%), p=0.0012 < 0.05: High, increase is bad -> fail
	// throughput: canary median 200 vs baseline 200 (+0%), p=1 >= 0.05: Pass
}
