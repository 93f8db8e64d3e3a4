package cosign

import (
	"testing"

	"github.com/ferry-dev/ferry/agent/config"
	"github.com/ferry-dev/ferry/agent/registry"
	"github.com/ferry-dev/ferry/agent/trust"
)

// BenchmarkVerifyCosign is one verification of a digest signed with a key
// (a sigstore bundle referrer, as cosign sign --key writes it), registry
// round-trips to a docker-registry on 127.0.0.1 included: the referrers
// fallback tag, the bundle's manifest and blob, and the absent .sig and
// .att tags. Compare with `cosign verify --key` as a process.
func BenchmarkVerifyCosign(b *testing.B) {
	host := startRegistry(b)
	s := newSigner(b)
	d := pushImage(b, host, "shop/bench")
	pushReferrer(b, host, "shop/bench", d, BundleType, signBundleDSSE(b, s, statementJSON(d, SignPredicateType, "{}")))
	v, err := New(&config.CosignTrust{Keys: []string{s.write(b, b.TempDir(), "cosign.pub")}}, registry.NewClient(registry.Options{RequestsPerSecond: -1}))
	if err != nil {
		b.Fatal(err)
	}
	img := trust.Image{Repo: host + "/shop/bench", Digest: d}
	for b.Loop() {
		res, err := v.Verify(b.Context(), img)
		if err != nil || !res.Trusted() {
			b.Fatalf("%+v, %v", res, err)
		}
	}
}
