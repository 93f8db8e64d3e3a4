package dora

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
)

// benchHistory is n commits of 20 apps moving through dev, qa, ppd and
// prod, one promotion a commit; every 7th prod deployment is rolled back.
func benchHistory(n int) (*builder, string) {
	const apps = 20
	var cfg strings.Builder
	cfg.WriteString(strings.SplitAfter(pipelineYAML, "apps:\n")[0])
	for a := range apps {
		fmt.Fprintf(&cfg, "  - {name: app%02d, image: %s, tags: {semver: \">=1.0.0\"}}\n", a, img(fmt.Sprintf("app%02d", a)))
	}
	cfg.WriteString("environments:" + strings.SplitAfter(pipelineYAML, "environments:")[1])
	b := newBuilder()
	envs := []string{"dev", "qa", "ppd", "prod"}
	for _, e := range envs {
		for a := range apps {
			b.set(e, img(fmt.Sprintf("app%02d", a)), "1.0.0")
		}
	}
	b.commit(0, "alice", person("seed"), envs...)
	prodDeploys := 0
	for i := 1; i < n; i++ {
		round, step := (i-1)/len(envs), (i-1)%len(envs)
		app := fmt.Sprintf("app%02d", round%apps)
		v := fmt.Sprintf("1.%d.0", round+1)
		env := envs[step]
		h := float64(i) / 4
		if env == "prod" {
			prodDeploys++
			if prodDeploys%7 == 0 {
				prev := b.images["prod"][img(app)]
				b.set("prod", img(app), v).commit(h, "ferry", promote(app, v, "prod", rfc(h-1)), "prod")
				b.set("prod", img(app), prev).commit(h+0.1, "ferry", rollback(app, "prod", prev, v), "prod")
				i++
				continue
			}
		}
		b.set(env, img(app), v).commit(h, "ferry", promote(app, v, env, rfc(float64(round)-0.5)), env)
	}
	return b, cfg.String()
}

// BenchmarkCompute measures ferry dora over a 5,000-commit history;
// BenchmarkGitLogProcess is git log printing the same commits' patches of
// every environment's kustomization (what a script would parse), as a
// process, for scale.
func BenchmarkCompute(b *testing.B) {
	hist, cfg := benchHistory(5000)
	f := buildWith(b, hist, cfg)
	b.ResetTimer()
	for b.Loop() {
		r, err := Compute(context.Background(), f.repo, f.head, f.cfg, Options{Now: at(5000)})
		if err != nil {
			b.Fatal(err)
		}
		if r.Overall.Deployments == 0 || r.Overall.Rollbacks == 0 {
			b.Fatalf("no deployments or rollbacks measured: %+v", r.Overall)
		}
	}
}

// BenchmarkComputeOneNewCommit is the collector's cost when one commit
// lands on a 5,000-commit history it has read before.
func BenchmarkComputeOneNewCommit(b *testing.B) {
	hist, cfg := benchHistory(5000)
	f := buildWith(b, hist, cfg)
	parent, err := f.repo.Snapshot(f.head.Parents()[0])
	if err != nil {
		b.Fatal(err)
	}
	_, prev, err := compute(context.Background(), f.repo, parent, f.cfg, Options{Now: at(5000)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := compute(context.Background(), f.repo, f.head, f.cfg, Options{Now: at(5000)}, prev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGitLogProcess(b *testing.B) {
	hist, cfg := benchHistory(5000)
	f := buildWith(b, hist, cfg)
	args := []string{"log", "--first-parent", "-p", "--format=%H %ct %s%n%(trailers)", "--"}
	for _, e := range []string{"dev", "qa", "ppd", "prod"} {
		args = append(args, "overlays/"+e+"/kustomization.yaml")
	}
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = f.bare, gitserver.Env()
		out, err := cmd.Output()
		if err != nil || len(out) == 0 {
			b.Fatal(err)
		}
	}
}
