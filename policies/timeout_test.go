package policies

import (
	"context"
	"errors"
	"testing"
	"testing/fstest"
	"time"
)

// slowPolicy is issue 18's runaway rule: a comprehension iterating
// numbers.range(1, 20000) twice, 4*10^8 steps, which kept a decision
// running for over a minute.
const slowPolicy = `package ferry.promotion

deny contains "slow" if {
	n := count({x | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000); x := i + j})
	n < 0
}
`

// stuckAfter is how long a test waits for Decide before calling it
// stuck. It says nothing about speed: a stopped decision returns within
// the limit plus a check of the cancel flag; without one it runs minutes.
const stuckAfter = time.Minute

// decideOrStuck runs Decide and fails the test if it has not returned by
// stuckAfter.
func decideOrStuck(t *testing.T, ctx context.Context, e *Engine, input any) (Decision, error) {
	t.Helper()
	type result struct {
		d   Decision
		err error
	}
	ch := make(chan result, 1)
	go func() {
		d, err := e.Decide(ctx, input)
		ch <- result{d, err}
	}()
	select {
	case r := <-ch:
		return r.d, r.err
	case <-time.After(stuckAfter):
		t.Fatalf("Decide has not returned after %s: the decision is not bounded", stuckAfter)
		return Decision{}, nil
	}
}

func loadSlow(t *testing.T, opts ...LoadOption) *Engine {
	t.Helper()
	e, err := Load(context.Background(), fstest.MapFS{"p/slow.rego": {Data: []byte(slowPolicy)}}, "p", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var slowInput = map[string]any{
	"app":         map[string]any{"name": "checkout"},
	"candidate":   map[string]any{"version": "1.4.2"},
	"environment": map[string]any{"name": "prod"},
}

// TestDecisionTimeout checks the runaway policy is stopped by the engine's
// own limit, the default one and a configured one, and that the error says
// what happened, for which decision, and what to do.
func TestDecisionTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []LoadOption
		limit time.Duration
	}{
		{"default limit", nil, DefaultDecisionTimeout},
		{"configured limit", []LoadOption{WithDecisionTimeout(50 * time.Millisecond)}, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := loadSlow(t, tc.opts...)
			if got := e.DecisionTimeout(); got != tc.limit {
				t.Fatalf("DecisionTimeout() = %s, want %s", got, tc.limit)
			}
			d, err := decideOrStuck(t, context.Background(), e, slowInput)
			if !errors.Is(err, ErrDecisionTimeout) {
				t.Fatalf("got %+v, %v; want an error wrapping ErrDecisionTimeout", d, err)
			}
			if d.Allow {
				t.Errorf("Allow set alongside %v", err)
			}
			inOrder(t, "error", err.Error(), []string{
				"policy decision for checkout 1.4.2 in prod did not finish within " + tc.limit.String(),
				"a policy rule is too slow", "policyTimeout",
			})
		})
	}
}

// TestDecisionCanceled checks the caller's context stops the same runaway
// policy, and is reported as a cancellation, not as the engine's timeout.
func TestDecisionCanceled(t *testing.T) {
	// A limit far away, so only the cancellation can stop it.
	e := loadSlow(t, WithDecisionTimeout(time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(20*time.Millisecond, cancel) // most likely mid-evaluation
	defer stop.Stop()
	d, err := decideOrStuck(t, ctx, e, slowInput)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrDecisionTimeout) {
		t.Fatalf("got %+v, %v; want context.Canceled only", d, err)
	}

	// A caller's deadline shorter than the engine's is the caller's.
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := decideOrStuck(t, ctx, e, slowInput); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrDecisionTimeout) {
		t.Fatalf("got %v; want context.DeadlineExceeded only", err)
	}
}

// TestDecisionTimeoutOption checks no setting makes a decision unbounded.
func TestDecisionTimeoutOption(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if got := loadSlow(t, WithDecisionTimeout(d)).DecisionTimeout(); got != DefaultDecisionTimeout {
			t.Errorf("WithDecisionTimeout(%s): limit %s, want the default %s", d, got, DefaultDecisionTimeout)
		}
	}
	if got := loadSlow(t, WithDecisionTimeout(5*time.Second)).DecisionTimeout(); got != 5*time.Second {
		t.Errorf("limit %s, want 5s", got)
	}
}

func TestDescribeInput(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  string
	}{
		{`{"app": {"name": "checkout"}, "candidate": {"version": "1.4.2"}, "environment": {"name": "prod"}}`, "checkout 1.4.2 in prod"},
		{`{"app": {"name": "checkout"}}`, "checkout"},
		{`{"environment": {"name": "qa"}}`, "this input in qa"},
		{`{"app": {"name": 7}, "candidate": "x"}`, "this input"},
		{`{}`, "this input"},
	} {
		v, err := jsonValue([]byte(tc.input))
		if err != nil {
			t.Fatal(err)
		}
		if got := describeInput(v); got != tc.want {
			t.Errorf("describeInput(%s) = %q, want %q", tc.input, got, tc.want)
		}
	}
}
