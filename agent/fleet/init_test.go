package fleet

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitBare(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet.git")
	files := map[string][]byte{"ferry.yaml": []byte("kind: Pipeline\n"), "overlays/dev/kustomization.yaml": []byte("images: []\n")}
	err := InitBare(context.Background(), dir, "main", files, "seed", Signature{Name: "t", Email: "t@example.com"}, time.Unix(1700000000, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", dir, "ls-tree", "-r", "--name-only", "main").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := strings.Fields(string(out)); strings.Join(got, " ") != "ferry.yaml overlays/dev/kustomization.yaml" {
		t.Fatalf("tree: %q", got)
	}
	if head, _ := exec.Command("git", "-C", dir, "symbolic-ref", "HEAD").Output(); strings.TrimSpace(string(head)) != "refs/heads/main" {
		t.Fatalf("HEAD = %q", head)
	}
}
