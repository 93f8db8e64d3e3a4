package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/trust/gitsig"
	"github.com/ferry-dev/ferry/agent/trust/gitsig/gitsigtest"
)

// hugeSigCommit writes, straight into the bare repository, a commit on top of
// main whose gpgsig header runs to about 4 MB, moves main to it and returns
// its hash. go-git decodes such a header in quadratic time (minutes).
func hugeSigCommit(t *testing.T, bare string) (string, int) {
	t.Helper()
	head := strings.TrimSpace(git(t, bare, "rev-parse", "refs/heads/main"))
	tree := strings.TrimSpace(git(t, bare, "rev-parse", "refs/heads/main^{tree}"))
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\nparent %s\n", tree, head)
	b.WriteString("author Mallory <m@example.com> 1700000000 +0000\ncommitter Mallory <m@example.com> 1700000000 +0000\n")
	b.WriteString("gpgsig -----BEGIN SSH SIGNATURE-----\n")
	line := " " + strings.Repeat("A", 70) + "\n"
	for b.Len() < 4<<20 {
		b.WriteString(line)
	}
	b.WriteString(" -----END SSH SIGNATURE-----\n\nbig\n")
	h := strings.TrimSpace(gitStdin(t, bare, b.String(), "hash-object", "-t", "commit", "-w", "--literally", "--stdin"))
	git(t, bare, "update-ref", "refs/heads/main", h)
	return h, b.Len()
}

// A commit with a huge gpgsig header is refused by size before it is
// decoded, wherever ferry would read it: as the head, in history, by hash;
// and a later fetch (whose negotiation walks local commits) is not stalled.
func TestOversizedCommitRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := gitsigtest.NewSSHKey(t, "ferry@example.com")
	signer, err := gitsig.LoadSSHSigner(key.Private, "")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, seedFiles)
	o := testOptions(t, f.fileURL())
	o.Signer = signer
	r := mustOpen(t, o)

	// A normal signed commit still reads.
	s, err := r.Commit(mustFetch(t, r), map[string][]byte{"overlays/qa/kustomization.yaml": bump("1.4.2")}, promote("checkout", "qa", "1.4.2"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, s); err != nil {
		t.Fatal(err)
	}
	sc, err := r.SignedCommit(s.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sc.Signature, "-----BEGIN SSH SIGNATURE-----") {
		t.Fatalf("signature not read: %q", sc.Signature)
	}

	big, size := hugeSigCommit(t, f.bare)
	want := fmt.Sprintf("commit %s is %d bytes, over the 1 MiB a commit may be: not read", big[:12], size)

	// As the head: Fetch refuses it.
	if _, err := r.Fetch(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("fetch of a huge head: got %v, want %q", err, want)
	}
	// By hash.
	if _, err := r.SignedCommit(big); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("SignedCommit: got %v, want %q", err, want)
	}
	if _, err := r.Snapshot(big); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Snapshot: got %v, want %q", err, want)
	}

	// In history: a normal commit on top; the fetch negotiates with the
	// huge commit among the local haves, and the walk stops on it.
	child := f.cliPush(t, map[string]string{"overlays/dev/kustomization.yaml": "x\n"}, "on top")
	head := mustFetch(t, r)
	if head.Hash() != child {
		t.Fatalf("head %s, want %s", head.Hash(), child)
	}
	var seen []string
	err = r.Log(ctx, head, func(c Commit) (bool, error) { seen = append(seen, c.Hash); return true, nil })
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("log: got %v, want %q", err, want)
	}
	if len(seen) != 1 || seen[0] != child {
		t.Errorf("log saw %v before stopping, want only %s", seen, child)
	}
	err = r.LogPath(ctx, head, "overlays/qa/kustomization.yaml", func(Commit) (bool, error) { return true, nil })
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("log path: got %v, want %q", err, want)
	}
}
