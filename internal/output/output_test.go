package output

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// command is a cobra command with the flag, as ferry's commands have it;
// run records the format it saw.
func command(run *Format) *cobra.Command {
	cmd := &cobra.Command{Use: "plan", SilenceUsage: true, SilenceErrors: true}
	f := AddFlag(cmd)
	cmd.RunE = func(*cobra.Command, []string) error {
		*run = *f
		return nil
	}
	return cmd
}

func TestFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want Format
		err  string
	}{
		{nil, Text, ""},
		{[]string{"-o", "text"}, Text, ""},
		{[]string{"-o", "json"}, JSON, ""},
		{[]string{"-ojson"}, JSON, ""},
		{[]string{"--output=json"}, JSON, ""},
		{[]string{"--output", "json", "-o", "text"}, Text, ""}, // the last one wins, as for any flag
		{[]string{"-o", "yaml"}, "", `invalid argument "yaml" for "-o, --output" flag: want text or json`},
		{[]string{"-o", "JSON"}, "", `invalid argument "JSON" for "-o, --output" flag: want text or json`},
		{[]string{"-o", ""}, "", `invalid argument "" for "-o, --output" flag: want text or json`},
		{[]string{"-o"}, "", `flag needs an argument`},
	} {
		var got Format
		cmd := command(&got)
		cmd.SetArgs(tc.args)
		err := cmd.Execute()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
		case tc.err != "" && got != "":
			t.Errorf("%q: the command ran with %q; a wrong value must stop it first", tc.args, got)
		case got != tc.want:
			t.Errorf("%q: format %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestHelp checks the flag reads as the plain string flag it replaced.
func TestHelp(t *testing.T) {
	var got Format
	usage := command(&got).Flags().FlagUsages()
	if want := `-o, --output string   output format: text or json (default "text")`; !strings.Contains(usage, want) {
		t.Errorf("usage:\n%s\nwant a line %q", usage, want)
	}
}

func TestCompletion(t *testing.T) {
	root := &cobra.Command{Use: "ferry"}
	var got Format
	root.AddCommand(command(&got))
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{cobra.ShellCompRequestCmd, "plan", "-o", ""})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	// Completions one a line, then the directive: no file names.
	if want := "text\njson\n:4\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("completion of -o:\n%s\nwant it to start with %q", out.String(), want)
	}
}

func TestPrint(t *testing.T) {
	v := map[string]any{"app": "checkout", "steps": []string{"a <b> & c"}}
	text := func(w io.Writer) error {
		_, err := io.WriteString(w, "checkout: a <b> & c\n")
		return err
	}
	for _, tc := range []struct {
		f    Format
		want string
	}{
		{JSON, "{\n  \"app\": \"checkout\",\n  \"steps\": [\n    \"a \\u003cb\\u003e \\u0026 c\"\n  ]\n}\n"},
		{Text, "checkout: a <b> & c\n"},
	} {
		var buf bytes.Buffer
		if err := tc.f.Print(&buf, v, text); err != nil {
			t.Fatalf("%s: %v", tc.f, err)
		}
		if buf.String() != tc.want {
			t.Errorf("%s printed %q, want %q", tc.f, buf.String(), tc.want)
		}
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestPrintErrors checks a write that fails and a value JSON cannot hold
// are errors that say what failed, and keep the cause for errors.Is.
func TestPrintErrors(t *testing.T) {
	broken := errors.New("broken pipe")
	err := JSON.Print(failingWriter{broken}, []int{1}, nil)
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), "write JSON output") {
		t.Errorf("failed write: %v", err)
	}
	if err := WriteJSON(io.Discard, math.Inf(1)); err == nil || !strings.Contains(err.Error(), "write JSON output") {
		t.Errorf("+Inf: %v; want an error", err)
	}
	textErr := errors.New("table")
	if err := Text.Print(io.Discard, nil, func(io.Writer) error { return textErr }); !errors.Is(err, textErr) {
		t.Errorf("text: %v, want the callback's error", err)
	}
}
