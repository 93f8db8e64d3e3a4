//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestDemoInterrupted: a signal removes the temp dir (or keeps it with
// --keep), says so in one line and exits as a shell reports the signal,
// without the cancelled story's errors.
func TestDemoInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo's first steps")
	}
	// SIGHUP (the terminal closed) is the demo's own to catch: a real one.
	tmp := t.TempDir()
	out, err := interruptDemo(t, context.Background(), tmp, func() {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	})
	var code exitError
	if !errors.As(err, &code) || code.code != 129 {
		t.Errorf("demo after SIGHUP: %v, want exit 129", err)
	}
	if !regexp.MustCompile(`(?m)^interrupted; removed ` + regexp.QuoteMeta(tmp) + `/ferry-demo-\d+\n$`).MatchString(out) {
		t.Errorf("the output does not end with one line saying the directory was removed:\n%s", out)
	}
	if strings.Contains(out, "context canceled") || strings.Contains(out, "error:") {
		t.Errorf("the interrupted demo printed errors:\n%s", out)
	}
	if dirs := demoDirs(t, tmp); len(dirs) != 0 {
		t.Errorf("the interrupted demo left %v behind", dirs)
	}

	// SIGINT arrives through main's context (notifySignals' cause), with --keep.
	tmp = t.TempDir()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	out, err = interruptDemo(t, ctx, tmp, func() { cancel(signalled{os.Interrupt}) }, "--keep")
	if !errors.As(err, &code) || code.code != 130 {
		t.Errorf("demo --keep after SIGINT: %v, want exit 130", err)
	}
	dirs := demoDirs(t, tmp)
	if len(dirs) != 1 || !strings.HasSuffix(out, "interrupted; kept "+dirs[0]+"\n") {
		t.Errorf("demo --keep after SIGINT kept %v; output:\n%s", dirs, out)
	}
}

// TestNotifySignals: the context main gives every command ends with a
// cause naming the signal, whose exit code is the shell's 128+n.
func TestNotifySignals(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}, {syscall.SIGHUP, 129}} {
		ctx, stop := notifySignals(context.Background(), tc.sig)
		if err := syscall.Kill(os.Getpid(), tc.sig); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done()
		var sig signalled
		if !errors.As(context.Cause(ctx), &sig) || sig.sig != tc.sig || sig.code() != tc.code {
			t.Errorf("%v: cause %v, want signalled %v exiting %d", tc.sig, context.Cause(ctx), tc.sig, tc.code)
		}
		stop()
	}
}
