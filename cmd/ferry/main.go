// Command ferry is a policy-driven GitOps promotion agent: it moves container
// images through environments by committing Kustomize image bumps to a fleet repo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// SIGTERM as well as Ctrl-C: Kubernetes stops a pod with SIGTERM, and
	// every command's context ends with either.
	ctx, stop := notifySignals(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := rootCmd().ExecuteContext(ctx); err != nil {
		// A command that chose its exit code has printed its own error.
		var code exitError
		if errors.As(err, &code) {
			os.Exit(code.code)
		}
		fmt.Fprintln(os.Stderr, "ferry:", err)
		os.Exit(1)
	}
}

// signalled is the cause (context.Cause) of a command's context that a
// signal ended, so a command can tell the signal and exit as a shell would.
type signalled struct{ sig os.Signal }

func (s signalled) Error() string { return "interrupted by " + s.sig.String() }

// code is 128 + the signal's number, the exit status a shell reports for it.
func (s signalled) code() int {
	if n, ok := s.sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// notifySignals is signal.NotifyContext whose context's cause names the
// signal. Until stop, later signals are caught too: a second Ctrl-C does
// not kill a command that is cleaning up.
func notifySignals(parent context.Context, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(signalled{s})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
}

// rootCmd is the command tree. Usage and errors are silenced: cobra's usage
// dump on every runtime error would bury the message, which main prints once.
func rootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "ferry",
		Short: "Promote container images through environments by Git commits",
		Long: `ferry watches container registries and a fleet repo, and promotes each new
image version environment by environment (dev -> qa -> ppd -> prod, dr mirrors
prod) by committing Kustomize image bumps. git log is the audit trail.`,
		Example: `  ferry demo                                   # the whole flow on an embedded default
  ferry run --config http://git.example/fleet.git --listen :8080
  ferry plan --config ferry.yaml
  source <(ferry completion bash)              # shell completion (bash, zsh, fish, powershell)`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), g.logFormat, g.logLevel)
			g.log = log
			return err
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.config, "config", "ferry.yaml", "ferry.yaml file, or the fleet repo URL whose root holds ferry.yaml")
	pf.StringVar(&g.branch, "branch", "main", "fleet repo branch, when --config is a repo URL")
	pf.StringVar(&g.workDir, "work-dir", "", "where ferry keeps its clone of the fleet repo (default: user cache dir)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(runCmd(g), planCmd(g), statusCmd(g), doraCmd(g), policyCmd(g), freezeCmd(g), unfreezeCmd(g), unrejectCmd(g), retryAnalysisCmd(g), approveCmd(g), rejectCmd(g), promoteCmd(g), rollbackCmd(g), abortCmd(g), evidenceCmd(g), demoCmd(g), webhookPathCmd(), versionCmd())
	return root
}

// newLogger logs to stderr (the command's, so tests read it too): stdout
// is the command's output (plan tables, -o json), which scripts read.
func newLogger(stderr io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print ferry's version",
		Example: "  ferry version",
		Args:    cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			// `go install` builds carry their module version; builds with
			// -ldflags name it explicitly.
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ferry %s\n", v)
		},
	}
}
