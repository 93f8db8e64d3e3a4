package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/agent/dora"
	"github.com/ferry-dev/ferry/e2e/gitserver"
)

const doraPipeline = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, author: {name: ferry, email: ferry@example.com}}
apps:
  - {name: checkout, image: 127.0.0.1:5000/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: prod, overlay: overlays/prod, from: dev, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

func kustomization(tag string) []byte {
	return fmt.Appendf(nil, "images:\n- name: 127.0.0.1:5000/shop/checkout\n  newTag: %s\n", tag)
}

// doraFleet is a fleet repo with two deployments to prod, the second
// rolled back, written with the git CLI as a person and ferry would.
func doraFleet(t *testing.T) *globals {
	t.Helper()
	root := t.TempDir()
	bare, err := gitserver.InitBare(root, "fleet.git")
	if err != nil {
		t.Fatal(err)
	}
	seed := map[string][]byte{}
	for _, env := range []string{"dev", "prod", "dr"} {
		seed["overlays/"+env+"/kustomization.yaml"] = kustomization("1.0.0")
	}
	if err := gitserver.Seed(bare, seed, "seed"); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, "work")
	ctx := context.Background()
	git := func(args ...string) {
		t.Helper()
		if _, err := gitserver.Git(ctx, root, append([]string{"-C", work}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := gitserver.Git(ctx, root, "clone", "--quiet", bare, work); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ env, tag, msg string }{
		{"dev", "1.1.0", "promote checkout 1.1.0 to dev\n\nFerry-App: checkout\nFerry-Env: dev\nFerry-Version: 1.1.0"},
		{"prod", "1.1.0", "promote checkout 1.1.0 to prod\n\nFerry-App: checkout\nFerry-Env: prod\nFerry-Version: 1.1.0"},
		{"dev", "1.2.0", "checkout 1.2.0 in dev"},
		{"prod", "1.2.0", "checkout 1.2.0 to prod"},
		{"prod", "1.1.0", "rollback checkout in prod to 1.1.0\n\nFerry-App: checkout\nFerry-Env: prod\nFerry-Rejects: 1.2.0"},
	} {
		if err := os.WriteFile(filepath.Join(work, "overlays", c.env, "kustomization.yaml"), kustomization(c.tag), 0o644); err != nil {
			t.Fatal(err)
		}
		git("commit", "--quiet", "-a", "-m", c.msg)
	}
	git("push", "--quiet", "origin", "main")
	cfg := filepath.Join(root, "ferry.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(doraPipeline, "FLEET", "file://"+bare)), 0o644); err != nil {
		t.Fatal(err)
	}
	return &globals{config: cfg, workDir: filepath.Join(root, "clone"), branch: "main"}
}

func runDora(t *testing.T, g *globals, args ...string) (string, error) {
	t.Helper()
	cmd := doraCmd(g)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return out.String(), err
}

func TestDoraCommand(t *testing.T) {
	g := doraFleet(t)
	out, err := runDora(t, g, "--since", "3650d", "-o", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var r dora.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := r.Overall
	if r.Env != "prod" || m.Deployments != 2 || m.Failures != 1 || m.Rollbacks != 1 || m.ChangeFailureRate != 0.5 || m.OpenIncidents != 1 {
		t.Errorf("report of %s: %+v; want 2 deployments in prod, 1 rolled back, 1 open incident", r.Env, m)
	}
	out, err = runDora(t, g, "--env", "dev", "--app", "checkout", "--since", "0")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "DORA metrics of dev") || !strings.Contains(out, "checkout  2") {
		t.Errorf("text report of dev:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "yaml"}, `invalid argument "yaml" for "-o, --output" flag: want text or json`},
		{[]string{"--since", "a week"}, "--since"},
		{[]string{"--env", "staging"}, `"staging"`},
		{[]string{"--app", "payments"}, `"payments"`},
	} {
		if _, err := runDora(t, g, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error naming %s", tc.args, err, tc.want)
		}
	}
}
