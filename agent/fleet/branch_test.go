package fleet

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProposalBranch: a proposal branch moves forward with merge commits
// and is never force-pushed; a push that would rewrite it is refused.
func TestProposalBranch(t *testing.T) {
	ctx := context.Background()
	bare := filepath.Join(t.TempDir(), "fleet.git")
	seed := map[string][]byte{"overlays/prod/kustomization.yaml": []byte("images: []\n")}
	if err := InitBare(ctx, bare, "main", seed, "seed", Signature{Name: "t", Email: "t@e"}, time.Unix(1, 0), nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, Options{URL: bare, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	main, err := r.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const branch = "ferry/prod/checkout"
	if old, err := r.FetchBranch(ctx, branch); err != nil || old != nil {
		t.Fatalf("absent branch: %v, %v", old, err)
	}
	first, err := r.CommitMerge(main, nil, map[string][]byte{"overlays/prod/kustomization.yaml": []byte("images: [{name: a, newTag: '1'}]\n")}, "promote a 1 to prod", time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PushBranch(ctx, first, branch); err != nil {
		t.Fatal(err)
	}
	// main moves on; the proposal is refreshed on the new main and merges its old head.
	main, err = r.Commit(main, map[string][]byte{"README": []byte("hi\n")}, "docs", time.Unix(3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Push(ctx, main); err != nil {
		t.Fatal(err)
	}
	old, err := r.FetchBranch(ctx, branch)
	if err != nil || old == nil || old.Hash() != first.Hash() {
		t.Fatalf("FetchBranch = %v, %v; want %s", old, err, first.Hash())
	}
	second, err := r.CommitMerge(main, []*Snapshot{old}, map[string][]byte{"overlays/prod/kustomization.yaml": []byte("images: [{name: a, newTag: '2'}]\n")}, "promote a 2 to prod", time.Unix(4, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Parents(); len(got) != 2 || got[0] != main.Hash() || got[1] != first.Hash() {
		t.Fatalf("parents = %v", got)
	}
	if err := r.PushBranch(ctx, second, branch); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", bare, "merge-base", "--is-ancestor", first.Hash(), branch).CombinedOutput()
	if err != nil {
		t.Fatalf("the old proposal is not an ancestor of the new one: %v %s", err, out)
	}
	// A commit that does not descend from the branch head is refused, not forced.
	stray, err := r.CommitMerge(main, nil, map[string][]byte{"overlays/prod/kustomization.yaml": []byte("images: [{name: a, newTag: '3'}]\n")}, "promote a 3 to prod", time.Unix(5, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.PushBranch(ctx, stray, branch); !errors.Is(err, ErrNonFastForward) {
		t.Fatalf("rewriting the branch: err = %v, want ErrNonFastForward", err)
	}
	head, _ := exec.Command("git", "-C", bare, "rev-parse", branch).Output()
	if strings.TrimSpace(string(head)) != second.Hash() {
		t.Fatalf("branch head %s, want %s", head, second.Hash())
	}
}
