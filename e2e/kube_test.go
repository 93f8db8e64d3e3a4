//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-dev/ferry/agent/kube"
	"github.com/ferry-dev/ferry/e2e/kube/kubetest"
	"github.com/ferry-dev/ferry/overlays"
)

// kubeCluster starts etcd and the cached kube-apiserver; the e2e suite
// requires them (make e2e-setup builds and exports FERRY_KUBE_APISERVER).
func kubeCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if os.Getenv(kubetest.EnvBinary) == "" {
		t.Fatalf("%s is unset: run make e2e-setup (e2e/kube/build.sh prints the path)", kubetest.EnvBinary)
	}
	c := kubetest.Start(t, kubetest.Binary(t))
	flux, err := os.ReadFile("testdata/flux-kustomization-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Apply(t, flux)
	for _, ns := range []string{"ferry", "flux-system", "shop-dev", "shop-qa", "shop-ppd", "shop-prod", "shop-dr"} {
		c.EnsureNamespace(t, ns)
	}
	return c
}

// kubeConfig verifies dev in its cluster: the workloads of the overlay and
// the Flux Kustomization that applies it.
const kubeConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - name: dev
    overlay: overlays/dev
    auto: true
    cluster: {kubeconfig: KUBECONFIG, namespace: shop-dev}
    verify: {timeout: 15s, flux: {kustomization: shop-dev}}
  - {name: qa, overlay: overlays/qa, from: dev, auto: true}
`

// fluxPlayer plays Flux and the deployment controller for dev: it applies
// the overlay at the branch head, records the revision in the Kustomization's
// status, and rolls the Deployments out fully or, for stuck versions, not
// at all.
type fluxPlayer struct {
	c       *kubetest.Cluster
	fleet   *fleetRepo
	stuck   map[string]bool // tags whose rollout never starts
	applied string
}

// sync applies the head once; it is called from waitFor's condition.
func (p *fluxPlayer) sync(t *testing.T) {
	t.Helper()
	head := strings.TrimSpace(p.fleet.git(t, "rev-parse", "main"))
	if head == p.applied {
		return
	}
	dir := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git --git-dir=%s archive %s | tar -x -C %s", p.fleet.bare, head, dir))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v\n%s", err, out)
	}
	rendered, err := overlays.Render(os.DirFS(dir), "overlays/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range p.c.Apply(t, rendered) {
		if u.GetKind() != "Deployment" {
			continue
		}
		updated := int64(1 << 20) // all of them

		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			img, _ := c.(map[string]any)["image"].(string)
			for tag := range p.stuck {
				if strings.HasSuffix(img, ":"+tag) || strings.Contains(img, ":"+tag+"@") {
					updated = 0
				}
			}
		}
		p.c.SetStatus(t, kubetest.Deployments, u.GetNamespace(), u.GetName(), kubetest.DeploymentRollout(updated))
	}
	p.c.Apply(t, []byte(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: shop-dev, namespace: flux-system}
spec: {interval: 1m, prune: true, path: ./overlays/dev, sourceRef: {kind: GitRepository, name: fleet}}
`))
	p.c.SetStatus(t, kube.FluxKustomizations, "flux-system", "shop-dev", func(u *unstructured.Unstructured) map[string]any {
		return map[string]any{"observedGeneration": u.GetGeneration(), "lastAppliedRevision": "main@sha1:" + head,
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
				"message": "Applied revision: main@sha1:" + head, "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}}
	})
	p.applied = head
}

// note is the ferry note on the commit whose subject matches grep.
func (f *fleetRepo) note(t *testing.T, grep string) string {
	t.Helper()
	c := strings.TrimSpace(f.git(t, "log", "-1", "--format=%H", "--grep="+grep, "main"))
	if c == "" {
		return ""
	}
	out, err := exec.Command("git", "-C", f.bare, "notes", "--ref", "ferry", "show", c).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// TestKubeVerification: a promotion into dev is verified in the cluster:
// it passes once the Deployment rolled out and Flux applied the commit, and
// a version whose rollout never completes fails on timeout, is rolled back
// and rejected.
func TestKubeVerification(t *testing.T) {
	c := kubeCluster(t)
	reg := startRegistry(t, "", "")
	// No policy: nothing moves past a verified environment before its
	// verdict whatever the policies say (issue 17).
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(kubeConfig, "KUBECONFIG", c.Kubeconfig), nil)
	player := &fluxPlayer{c: c, fleet: fleet, stuck: map[string]bool{"1.1.0": true}}
	reg.push(t, "shop/checkout", "1.0.0")
	startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir())

	waitFor(t, 90*time.Second, "1.0.0 verified in dev", func() bool {
		player.sync(t)
		return strings.Contains(fleet.note(t, "^promote checkout 1.0.0 to dev"), "Ferry-Verdict: Successful")
	})
	waitFor(t, 60*time.Second, "1.0.0 promoted to qa once dev verified it", func() bool {
		return slices.Contains(fleet.promotions(t), "checkout qa 1.0.0")
	})
	// The promotion was decided on dev's verdict, not before it.
	if qa := fleet.git(t, "log", "-1", "--format=%B", "--grep=^promote checkout 1.0.0 to qa", "main"); !strings.Contains(qa, "Ferry-Evidence: analysis kubernetes in dev: Successful") {
		t.Errorf("qa's promotion does not rest on dev's verdict:\n%s", qa)
	}

	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 90*time.Second, "1.1.0 rolled back in dev", func() bool {
		player.sync(t)
		return strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "rollback checkout in dev to 1.0.0")
	})
	note := fleet.note(t, "^promote checkout 1.1.0 to dev")
	for _, want := range []string{"Ferry-Verdict: Failed", "Ferry-Analysis: kubernetes", "Deployment shop-dev/checkout: 0 of 1 replicas updated"} {
		if !strings.Contains(note, want) {
			t.Errorf("the failed verdict note lacks %q:\n%s", want, note)
		}
	}
	if !strings.Contains(fleet.show(t, ".ferry/rejected.yaml"), "1.1.0") {
		t.Errorf("1.1.0 is not rejected after its failed verification")
	}
	if slices.Contains(fleet.promotions(t), "checkout qa 1.1.0") {
		t.Errorf("1.1.0 reached qa after failing verification in dev")
	}
}

// TestKubeBadCluster: a kubeconfig without the named context holds the
// version in dev (inconclusive, named in the note), and nothing moves on.
func TestKubeBadCluster(t *testing.T) {
	c := kubeCluster(t)
	reg := startRegistry(t, "", "")
	cfg := strings.ReplaceAll(kubeConfig, "cluster: {kubeconfig: KUBECONFIG,", "cluster: {kubeconfig: KUBECONFIG, context: staging,")
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(cfg, "KUBECONFIG", c.Kubeconfig), nil)
	reg.push(t, "shop/checkout", "1.0.0")
	startFerry(t, nil, "run", "--config", fleet.url, "--work-dir", t.TempDir())
	waitFor(t, 60*time.Second, "an inconclusive verdict in dev", func() bool {
		return strings.Contains(fleet.note(t, "^promote checkout 1.0.0 to dev"), "Ferry-Verdict: Inconclusive")
	})
	note := fleet.note(t, "^promote checkout 1.0.0 to dev")
	if !strings.Contains(note, `no context "staging"`) || !strings.Contains(note, c.Kubeconfig) {
		t.Errorf("the note does not name the kubeconfig and context:\n%s", note)
	}
	if slices.Contains(fleet.promotions(t), "checkout qa 1.0.0") {
		t.Errorf("1.0.0 moved past dev on an inconclusive verification")
	}
}

// leaderConfig has no cluster verification: the Lease alone is under test.
const leaderConfig = `apiVersion: ferry.dev/v1alpha1
kind: Pipeline
git: {url: FLEET, branch: main, interval: 1s, author: {name: ferry, email: ferry@example.com}}
registry: {interval: 1s}
apps:
  - {name: checkout, image: REGISTRY/shop/checkout, tags: {semver: ">=1.0.0"}}
environments:
  - {name: dev,  overlay: overlays/dev,  auto: true}
  - {name: qa,   overlay: overlays/qa,   from: dev, auto: true}
  - {name: ppd,  overlay: overlays/ppd,  from: qa,  auto: true}
  - {name: prod, overlay: overlays/prod, from: ppd, auto: true}
  - {name: dr,   overlay: overlays/dr,   mirror: prod}
`

// TestKubeLeaderElection: two ferry processes share a Lease; only the
// leader promotes; killed with SIGKILL, the standby takes over and goes on,
// and git log shows every promotion once.
func TestKubeLeaderElection(t *testing.T) {
	c := kubeCluster(t)
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, leaderConfig)
	args := func() []string {
		return []string{"run", "--config", fleet.url, "--work-dir", t.TempDir(), "--leader-elect",
			"--kubeconfig", c.Kubeconfig, "--lease-namespace", "ferry", "--lease-duration", "3s"}
	}
	a := startFerry(t, []string{"POD_NAME=ferry-a"}, args()...)
	waitFor(t, 60*time.Second, "ferry-a leads", func() bool { return strings.Contains(a.out.String(), "msg=leading") })
	b := startFerry(t, []string{"POD_NAME=ferry-b"}, args()...)
	waitFor(t, 60*time.Second, "ferry-b stands by", func() bool { return strings.Contains(b.out.String(), "standing by") })

	reg.push(t, "shop/checkout", "1.0.0")
	waitFor(t, 90*time.Second, "1.0.0 in dr", func() bool {
		return slices.Contains(fleet.promotions(t), "checkout dr 1.0.0")
	})
	if strings.Contains(b.out.String(), "msg=leading") {
		t.Fatalf("the standby led while the leader was alive:\n%s", b.out.String())
	}

	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 90*time.Second, "ferry-b takes over and brings 1.1.0 to dr", func() bool {
		return slices.Contains(fleet.promotions(t), "checkout dr 1.1.0")
	})
	got := fleet.promotions(t)
	want := append(chain("checkout", "1.0.0"), chain("checkout", "1.1.0")...)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("promotions across the failover:\n got %q\nwant %q (each once)", got, want)
	}
}

// TestKubeRBAC: ferry runs with the token of the ServiceAccount of deploy/
// and exactly the RBAC deploy/ grants: leases, verification reads, and
// nothing it does is forbidden.
func TestKubeRBAC(t *testing.T) {
	c := kubeCluster(t)
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "deploy"), os.DirFS("../deploy")); err != nil {
		t.Fatal(err)
	}
	manifests, err := overlays.Render(os.DirFS(dir), "deploy")
	if err != nil {
		t.Fatalf("kustomize build deploy/: %v", err)
	}
	objs, err := kubetest.Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, u := range objs {
		kinds = append(kinds, u.GetKind())
		if u.GetKind() == "ServiceMonitor" {
			continue // the Prometheus Operator's CRD is not installed here
		}
		b, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		c.Apply(t, b)
	}
	for _, want := range []string{"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "ServiceMonitor"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("deploy/ has no %s", want)
		}
	}
	token := c.ServiceAccountToken(t, "ferry", "ferry")
	sa := c.WriteKubeconfig(t, "ferry", token, "ferry", "ferry")

	reg := startRegistry(t, "", "")
	fleet := startFleetWith(t, reg.host, strings.ReplaceAll(kubeConfig, "KUBECONFIG", sa), nil)
	player := &fluxPlayer{c: c, fleet: fleet}
	reg.push(t, "shop/checkout", "1.0.0")
	p := startFerry(t, []string{"POD_NAME=ferry-rbac"}, "run", "--config", fleet.url, "--work-dir", t.TempDir(), "--leader-elect",
		"--kubeconfig", sa, "--lease-namespace", "ferry", "--lease-duration", "3s")
	waitFor(t, 90*time.Second, "1.0.0 verified in dev as the ServiceAccount", func() bool {
		player.sync(t)
		return strings.Contains(fleet.note(t, "^promote checkout 1.0.0 to dev"), "Ferry-Verdict: Successful")
	})
	if out := p.out.String(); strings.Contains(out, "forbidden") || !strings.Contains(out, "msg=leading") {
		t.Errorf("ferry as the ServiceAccount was refused something, or never led:\n%s", out)
	}
	if strings.Contains(p.out.String(), token) {
		t.Errorf("the ServiceAccount token appears in ferry's output")
	}
}

// TestKubeShardsAlertToAnyReplica (issue 18, item 18): three replicas share
// three shards; an Alertmanager alert sent to a replica that does not own
// the app is still carried out, once, whichever replica gets it: a
// rollback goes through Git and is idempotent.
func TestKubeShardsAlertToAnyReplica(t *testing.T) {
	c := kubeCluster(t)
	reg := startRegistry(t, "", "")
	fleet := startFleet(t, reg.host, leaderConfig)
	const token = "shard-token"
	type replica struct {
		p      *ferryProc
		listen string
	}
	var replicas []replica
	for _, name := range []string{"ferry-a", "ferry-b", "ferry-c"} {
		listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		p := startFerry(t, []string{"POD_NAME=" + name, "FERRY_WEBHOOK_TOKEN=" + token}, "run", "--config", fleet.url,
			"--work-dir", t.TempDir(), "--listen", listen, "--shards", "3",
			"--kubeconfig", c.Kubeconfig, "--lease-namespace", "ferry", "--lease-duration", "3s")
		replicas = append(replicas, replica{p, listen})
	}
	reg.push(t, "shop/checkout", "1.0.0")
	waitFor(t, 90*time.Second, "1.0.0 in dr", func() bool { return slices.Contains(fleet.promotions(t), "checkout dr 1.0.0") })
	reg.push(t, "shop/checkout", "1.1.0")
	waitFor(t, 90*time.Second, "1.1.0 in dr", func() bool { return slices.Contains(fleet.promotions(t), "checkout dr 1.1.0") })

	// The owner of checkout's shard is the replica that promoted 1.1.0
	// (a shard may have moved once the replicas that started later
	// joined, so 1.0.0 may be another's); each move was made once.
	owner, moves := -1, 0
	for i, r := range replicas {
		if n := strings.Count(r.p.out.String(), "msg=promoted app=checkout env=dr version=1.1.0"); n > 0 {
			owner, moves = i, moves+n
		}
	}
	if owner < 0 {
		t.Fatal("no replica promoted checkout")
	}
	if moves != 1 {
		t.Fatalf("checkout 1.1.0 was promoted into dr %d times by the replicas", moves)
	}
	target := replicas[(owner+1)%len(replicas)]
	body := fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","status":"firing","receiver":"ferry",
"groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://127.0.0.1:9093",
"alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","app":"checkout","env":"prod"},"annotations":{},
"startsAt":"%s","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"shard1"}]}`, time.Now().UTC().Format(time.RFC3339))
	// Sent to a non-owner, and then to every replica (Alertmanager sending to all of them).
	post := func(r replica) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.listen+"/hooks/alertmanager", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("alert to %s: status %d", r.listen, resp.StatusCode)
		}
	}
	post(target)
	waitFor(t, 30*time.Second, "the rollback of checkout in prod", func() bool {
		return strings.Contains(fleet.git(t, "log", "--format=%s", "main"), "rollback checkout in prod to 1.0.0")
	})
	for _, r := range replicas {
		post(r)
	}
	time.Sleep(3 * time.Second)
	if n := strings.Count(fleet.git(t, "log", "--format=%s", "main"), "rollback checkout in prod"); n != 1 {
		t.Fatalf("%d rollbacks for one alert sent to every replica:\n%s", n, fleet.git(t, "log", "--format=%s", "main"))
	}
}
