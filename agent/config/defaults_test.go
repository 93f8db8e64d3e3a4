package config

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"
)

// TestDefaultsDocumented keeps the "default X" in types.go's field
// comments equal to the Default* constants setDefaults applies (the
// requestsPerSecond comment once said 10 while the code used 50).
func TestDefaultsDocumented(t *testing.T) {
	short := func(d time.Duration) string { // 1m0s reads as 1m in the comments
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	tests := []struct{ typ, field, want string }{
		{"Git", "Branch", DefaultBranch},
		{"Git", "Interval", short(DefaultGitInterval)},
		{"Git", "Timeout", short(DefaultGitTimeout)},
		{"Registry", "Interval", short(DefaultRegistryInterval)},
		{"Registry", "RequestsPerSecond", fmt.Sprint(DefaultRequestsPerSecond)},
		{"Webhooks", "MaxBodyBytes", fmt.Sprintf("%d MiB", DefaultMaxBodyBytes>>20)},
		{"Webhooks", "BodyTimeout", short(DefaultBodyTimeout)},
		{"Webhooks", "MaxUnauthenticated", fmt.Sprint(DefaultMaxUnauthenticated)},
	}
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{} // "Type.Field" -> doc and line comment
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fl := range st.Fields.List {
			for _, name := range fl.Names {
				comments[ts.Name.Name+"."+name.Name] = fl.Doc.Text() + fl.Comment.Text()
			}
		}
		return false
	})
	for _, tt := range tests {
		c, ok := comments[tt.typ+"."+tt.field]
		if !ok {
			t.Errorf("types.go has no field %s.%s", tt.typ, tt.field)
			continue
		}
		if !strings.Contains(c, "default "+tt.want+" ") && !strings.Contains(c, "default "+tt.want+".") &&
			!strings.HasSuffix(strings.TrimSpace(c), "default "+tt.want) {
			t.Errorf("%s.%s comment %q does not say default %s", tt.typ, tt.field, strings.TrimSpace(c), tt.want)
		}
	}
}

// TestTierFor: the default policies key on the tier, so an environment
// keeps its gate under another common name, a mirror is dr, ferry.yaml's
// tier wins, and an unknown name has none (ferry then warns: gate.Ungated).
func TestTierFor(t *testing.T) {
	for _, tc := range []struct {
		env  Environment
		want string
	}{
		{Environment{Name: "dev"}, TierDevelopment},
		{Environment{Name: "qa"}, TierTest},
		{Environment{Name: "sit"}, TierTest},
		{Environment{Name: "ppd"}, TierStaging},
		{Environment{Name: "uat"}, TierStaging},
		{Environment{Name: "staging"}, TierStaging},
		{Environment{Name: "prod"}, TierProduction},
		{Environment{Name: "live"}, TierProduction},
		{Environment{Name: "dr"}, TierDR},
		{Environment{Name: "eu-standby", Mirror: "prod"}, TierDR},
		{Environment{Name: "quality"}, ""},
		{Environment{Name: "quality", Tier: TierTest}, TierTest},
		{Environment{Name: "qa", Tier: TierStaging}, TierStaging},
	} {
		if got := TierFor(tc.env); got != tc.want {
			t.Errorf("TierFor(%+v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}
