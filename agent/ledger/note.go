package ledger

import (
	"fmt"
	"strings"
)

// NotesRef holds ferry's git notes: the verdicts of the analyses of each
// commit. `git fetch origin refs/notes/ferry:refs/notes/ferry && git log
// --notes=ferry` shows them next to the commits.
const NotesRef = "refs/notes/ferry"

// Verdicts of an analysis (the analysis package's names, kept here as text:
// the ledger is a leaf).
const (
	Successful   = "Successful"
	Failed       = "Failed"
	Inconclusive = "Inconclusive"
)

// Verdict is the result of one analysis (or verification) of the version a
// commit brought into an environment. It names what it judged: a verdict
// acts only while the environment still runs that commit's version.
type Verdict struct {
	App, Env string
	Version  Version
	Analysis string // the template, "readiness" or "kubernetes"
	Verdict  string // Successful, Failed or Inconclusive
	Reason   string
	Step     string // the progressive step ("2/4"); "" for a promotion
	Explain  string // one line per metric with its values
}

// Subject is the verdict's first line.
func (v Verdict) Subject() string {
	what := fmt.Sprintf("%s %s in %s", v.App, v.Version.Tag, v.Env)
	if v.Step != "" {
		what += " step " + v.Step
	}
	return fmt.Sprintf("analysis of %s: %s", what, v.Verdict)
}

func (v Verdict) message() Message {
	m := Message{
		Subject: v.Subject(),
		Body:    noSeparator(v.Explain),
		Trailers: []Trailer{
			{keyApp, v.App}, {keyEnv, v.Env}, {keyVersion, v.Version.Tag},
			{keyAnalysis, v.Analysis}, {keyVerdict, v.Verdict}, {keyReason, OneLine(v.Reason)},
		},
	}
	if v.Version.Digest != "" {
		m.Trailers = append(m.Trailers, Trailer{keyDigest, v.Version.Digest})
	}
	if v.Step != "" {
		m.Trailers = append(m.Trailers, Trailer{keyStep, v.Step})
	}
	return m
}

// sameRun reports whether v and o judge the same thing (so o replaces v):
// one environment, one step, one version.
func (v Verdict) sameRun(o Verdict) bool {
	return v.App == o.App && v.Env == o.Env && v.Step == o.Step && v.Version.Tag == o.Version.Tag
}

// Note is every verdict made on one commit. One commit can bring versions
// into several verified environments (a person's commit, a rollback with
// mirrors), so a note holds them all, one block each.
type Note struct{ Verdicts []Verdict }

// separator divides the blocks of a note; Explain text never holds it.
const separator = "---"

func noSeparator(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == separator {
			lines[i] = "- - -"
		}
	}
	return strings.Join(lines, "\n")
}

// String renders the note: each verdict as a message, separated by a line
// of "---", so `git log --notes=ferry` reads like the commit log.
func (n Note) String() string {
	parts := make([]string, len(n.Verdicts))
	for i, v := range n.Verdicts {
		parts[i] = v.message().String()
	}
	return strings.Join(parts, "\n"+separator+"\n\n")
}

// With returns the note with v added, replacing an earlier verdict of the
// same run.
func (n Note) With(v Verdict) Note {
	out := Note{Verdicts: make([]Verdict, 0, len(n.Verdicts)+1)}
	for _, old := range n.Verdicts {
		if !old.sameRun(v) {
			out.Verdicts = append(out.Verdicts, old)
		}
	}
	out.Verdicts = append(out.Verdicts, v)
	return out
}

// Without returns the note without the verdicts of env (for a person who
// wants an analysis run again: `ferry retry-analysis`), and whether any
// was removed.
func (n Note) Without(app, env string) (Note, bool) {
	out := Note{}
	for _, v := range n.Verdicts {
		if v.App == app && v.Env == env {
			continue
		}
		out.Verdicts = append(out.Verdicts, v)
	}
	return out, len(out.Verdicts) != len(n.Verdicts)
}

// For finds the verdict of app's version in env (and step; "" for the
// verification of a promotion).
func (n Note) For(app, env, step string, v Version) (Verdict, bool) {
	for i := len(n.Verdicts) - 1; i >= 0; i-- {
		x := n.Verdicts[i]
		if x.App == app && x.Env == env && x.Step == step && (v.Tag == "" || x.Version.Tag == v.Tag) {
			return x, true
		}
	}
	return Verdict{}, false
}

// ParseNote reads a note. Blocks that are not ferry's verdicts (a note a
// person wrote) are ignored, never taken for a verdict.
func ParseNote(text string) Note {
	var n Note
	for _, block := range splitBlocks(text) {
		m := ParseMessage(block)
		v := Verdict{
			App: m.Trailer(keyApp), Env: m.Trailer(keyEnv),
			Version:  Version{Tag: m.Trailer(keyVersion), Digest: m.Trailer(keyDigest)},
			Analysis: m.Trailer(keyAnalysis), Verdict: m.Trailer(keyVerdict), Reason: m.Trailer(keyReason),
			Step: m.Trailer(keyStep), Explain: m.Body,
		}
		switch v.Verdict {
		case Successful, Failed, Inconclusive:
			n.Verdicts = append(n.Verdicts, v)
		}
	}
	return n
}

func splitBlocks(text string) []string {
	var blocks []string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == separator {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(blocks, strings.Join(cur, "\n"))
}
