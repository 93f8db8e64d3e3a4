package main

import (
	"context"
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferry-dev/ferry/e2e/gitserver"
	"github.com/ferry-dev/ferry/overlays"
)

// cmdFleet is what a person running ferry has: a fleet repo (a bare repo
// reached over file://), a registry (go-containerregistry's, in-process on
// 127.0.0.1) and a ferry.yaml naming both. Commands run in-process through
// rootCmd, as main runs them.
type cmdFleet struct {
	root, bare, reg, cfg, work string
}

// newCmdFleet seeds the example fleet plus files, and writes pipeline as
// ferry.yaml; FLEET and REGISTRY are filled in both, DEAD with an address
// where nothing listens.
func newCmdFleet(t *testing.T, pipeline string, files map[string]string) *cmdFleet {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	f := &cmdFleet{root: t.TempDir(), reg: ln.Addr().String()}
	f.bare, err = gitserver.InitBare(f.root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := overlays.ExampleFleet(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	delete(seed, "ferry.yaml")
	fill := strings.NewReplacer("FLEET", "file://"+f.bare, "REGISTRY", f.reg, "DEAD", deadAddr(t))
	for p, c := range files {
		seed[p] = []byte(fill.Replace(c))
	}
	if err := gitserver.Seed(f.bare, seed, "seed"); err != nil {
		t.Fatal(err)
	}
	f.cfg = filepath.Join(f.root, "ferry.yaml")
	if err := os.WriteFile(f.cfg, []byte(fill.Replace(pipeline)), 0o644); err != nil {
		t.Fatal(err)
	}
	f.work = filepath.Join(f.root, "clone")
	return f
}

// deadAddr is a 127.0.0.1 address where nothing listens any more: a
// connection to it is refused at once.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// push puts an image at repo:tag. The image is the same for the same
// repo and tag, so outputs that show digests are reproducible.
func (f *cmdFleet) push(t *testing.T, repo, tag string) {
	t.Helper()
	seed := int64(0)
	for _, c := range repo + ":" + tag {
		seed = seed*31 + int64(c)
	}
	img, err := random.Image(256, 1, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(f.reg + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

// ferry runs the command line against this fleet: --config and
// --work-dir are added, and logs below warnings are left out.
func (f *cmdFleet) ferry(t *testing.T, args ...string) (code int, stdout, stderr string, err error) {
	t.Helper()
	return runFerry(t, append(args, "--config", f.cfg, "--work-dir", f.work, "--log-level", "warn")...)
}

// git runs the git CLI in the bare fleet repo.
func (f *cmdFleet) git(t *testing.T, args ...string) string {
	t.Helper()
	out, err := gitserver.Git(context.Background(), f.bare, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// head is the fleet repo's main branch.
func (f *cmdFleet) head(t *testing.T) string { return f.git(t, "rev-parse", "main") }

// gitIn runs the git CLI in dir and returns its trimmed output or error.
func gitIn(dir string, args ...string) (string, error) {
	out, err := gitserver.Git(context.Background(), dir, args...)
	return strings.TrimSpace(out), err
}
