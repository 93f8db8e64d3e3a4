package config

import (
	"slices"
	"testing"
)

func envs(specs ...[3]string) []Environment {
	out := make([]Environment, 0, len(specs))
	for _, s := range specs {
		out = append(out, Environment{Name: s[0], Overlay: "overlays/" + s[0], From: s[1], Mirror: s[2]})
	}
	return out
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name string
		envs []Environment
		want []string
	}{
		{"empty", nil, []string{}},
		{"design chain", envs([3]string{"dev", "", ""}, [3]string{"qa", "dev", ""}, [3]string{"ppd", "qa", ""},
			[3]string{"prod", "ppd", ""}, [3]string{"dr", "", "prod"}), []string{"dev", "qa", "ppd", "prod", "dr"}},
		{"reverse file order", envs([3]string{"dr", "", "prod"}, [3]string{"prod", "qa", ""}, [3]string{"qa", "dev", ""},
			[3]string{"dev", "", ""}), []string{"dev", "qa", "prod", "dr"}},
		{"two roots keep file order", envs([3]string{"a", "", ""}, [3]string{"b", "", ""}, [3]string{"a2", "a", ""},
			[3]string{"b2", "b", ""}), []string{"a", "b", "a2", "b2"}},
		{"dependent before its later peer", envs([3]string{"late", "root", ""}, [3]string{"root", "", ""},
			[3]string{"other", "", ""}), []string{"root", "late", "other"}},
		{"cycle goes last in file order", envs([3]string{"x", "y", ""}, [3]string{"ok", "", ""}, [3]string{"y", "x", ""},
			[3]string{"after", "ok", ""}), []string{"ok", "after", "x", "y"}},
		{"unknown and self sources count as roots", envs([3]string{"a", "nope", ""}, [3]string{"b", "b", ""}),
			[]string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Pipeline{Environments: tt.envs}
			if got := p.Order(); !slices.Equal(got, tt.want) {
				t.Errorf("Order() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLookups(t *testing.T) {
	p, err := Load("testdata/good/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env, app  bool
		overlay   string
		wantImage string
	}{
		{name: "prod", env: true, overlay: "overlays/prod"},
		{name: "dr", env: true, overlay: "overlays/dr"},
		{name: "checkout", app: true, wantImage: "127.0.0.1:5000/shop/checkout"},
		{name: "nope"},
	}
	for _, tt := range tests {
		e, ok := p.Env(tt.name)
		if ok != tt.env || ok && e.Overlay != tt.overlay {
			t.Errorf("Env(%q) = %+v, %v", tt.name, e, ok)
		}
		a, ok := p.App(tt.name)
		if ok != tt.app || ok && a.Image != tt.wantImage {
			t.Errorf("App(%q) = %+v, %v", tt.name, a, ok)
		}
	}
	// Lookups return the pipeline's own element, not a copy.
	e, _ := p.Env("qa")
	e.Auto = false
	if p.Environments[1].Auto {
		t.Error("Env returned a copy")
	}
}
