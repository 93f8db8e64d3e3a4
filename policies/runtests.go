package policies

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Exit codes of RunTests, as `ferry policy test` exits.
const (
	TestsPassed  = 0
	TestsFailed  = 1
	TestsBroken  = 2 // the policies or tests do not compile, or cannot be read
	testDeadline = 10 * time.Second
)

// RunTests runs the *_test.rego tests under dir like `opa test`, with the
// same compiler settings as Load (schema, strict mode, no network
// built-ins) and the directory's data files, and writes opa test's report
// to w: failures with their location, then PASS: n/m (verbose lists every
// test). The policies must first load as Load loads them, tests or not: a
// directory the agent would refuse is TestsBroken even without tests. It
// returns TestsPassed, TestsFailed when a test fails or errs, or
// TestsBroken with the error when nothing could be run; the error is not
// written to w.
func RunTests(ctx context.Context, fsys fs.FS, dir string, verbose bool, w io.Writer) (int, error) {
	pd, err := readDir(fsys, dir)
	if err != nil {
		return TestsBroken, err
	}
	_, data, err := build(ctx, pd, newLoadConfig(nil))
	if err != nil {
		return TestsBroken, err
	}
	if len(pd.tests) == 0 {
		_, err := fmt.Fprintf(w, "no tests (*_test.rego) in %s\n", pd.dir)
		return TestsPassed, err
	}
	mods, err := parse(append(slices.Clone(pd.rego), pd.tests...))
	if err != nil {
		return TestsBroken, fmt.Errorf("test policies in %s: %w", pd.dir, err)
	}
	ss, err := schemaSet(pd.schema)
	if err != nil {
		return TestsBroken, fmt.Errorf("test policies in %s: %w", pd.dir, err)
	}
	runner := tester.NewRunner().
		SetCompiler(newCompiler(ss).WithEnablePrintStatements(true)).
		SetStore(inmem.NewFromObject(data.doc)).
		SetModules(mods).
		CapturePrintOutput(true).
		EnableTracing(verbose).
		RaiseBuiltinErrors(true). // as Decide does: a built-in error fails the test
		SetTimeout(testDeadline)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		var errs ast.Errors
		if errors.As(err, &errs) {
			return TestsBroken, fmt.Errorf("test policies in %s: %w", pd.dir, compileError(errs))
		}
		return TestsBroken, fmt.Errorf("test policies in %s: %w", pd.dir, err)
	}

	// Tests finish in any order; report them in source order so the output
	// is stable.
	var results []*tester.Result
	code := TestsPassed
	for r := range ch {
		results = append(results, r)
		if r.Fail || r.Error != nil {
			code = TestsFailed
		}
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		if c := cmp.Compare(a.Location.File, b.Location.File); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Location.Row, b.Location.Row), cmp.Compare(a.Name, b.Name))
	})
	sorted := make(chan *tester.Result, len(results))
	for _, r := range results {
		sorted <- r
	}
	close(sorted)
	if err := (tester.PrettyReporter{Output: w, Verbose: verbose}).Report(sorted); err != nil {
		return TestsBroken, fmt.Errorf("report policy tests: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return TestsBroken, fmt.Errorf("test policies in %s: %w", pd.dir, err)
	}
	return code, nil
}
