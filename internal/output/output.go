// Package output is the -o text|json flag of ferry's reporting commands
// (plan, status, dora, policy eval): one spelling, one check of the value
// and one JSON encoding, so a script can rely on all of them alike.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Format is how a command prints its result.
type Format string

const (
	Text Format = "text" // for people: tables and lines
	JSON Format = "json" // for programs: one indented document
)

// Formats are the values -o accepts, in the order help lists them.
var Formats = []Format{Text, JSON}

// AddFlag registers -o/--output on cmd, default text, with shell
// completion of its values, and returns where the flag stores its value.
// The value is checked when the flags are parsed, so a wrong one is
// refused before the command reads or fetches anything.
func AddFlag(cmd *cobra.Command) *Format {
	f := Text
	cmd.Flags().VarP(&f, "output", "o", "output format: "+allowed())
	names := make([]cobra.Completion, len(Formats))
	for i, v := range Formats {
		names[i] = string(v)
	}
	// The only error is a flag that does not exist; it was added above.
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(names, cobra.ShellCompDirectiveNoFileComp))
	return &f
}

// String is the value, for pflag.Value.
func (f *Format) String() string { return string(*f) }

// Set accepts one of Formats; pflag puts the flag's name and the value in
// front of the error: invalid argument "yaml" for "-o, --output" flag: ...
func (f *Format) Set(s string) error {
	for _, v := range Formats {
		if Format(s) == v {
			*f = v
			return nil
		}
	}
	return fmt.Errorf("want %s", allowed())
}

// Type names the value in help; "string", as for the flag it replaced, so
// help reads "-o, --output string".
func (f *Format) Type() string { return "string" }

// Print writes v as JSON (WriteJSON) when f is JSON, else calls text,
// which must not be nil.
func (f Format) Print(w io.Writer, v any, text func(io.Writer) error) error {
	if f == JSON {
		return WriteJSON(w, v)
	}
	return text(w)
}

// WriteJSON writes v as one JSON document indented by two spaces and
// ended by a newline, so `jq` and line-based tools both take it. <, > and
// & are escaped (\u003c) as encoding/json does by default: outputs have
// always been so, and scripts comparing them byte for byte keep working.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON output: %w", err)
	}
	return nil
}

// allowed is "text or json".
func allowed() string {
	names := make([]string, len(Formats))
	for i, v := range Formats {
		names[i] = string(v)
	}
	return strings.Join(names, " or ")
}
