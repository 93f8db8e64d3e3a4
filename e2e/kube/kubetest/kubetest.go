// Package kubetest runs a real control plane for tests: Debian's etcd and
// the kube-apiserver e2e/kube/build.sh builds, on free loopback ports, with
// a static admin token, RBAC and a service-account signing key. No
// controllers run: tests write the status controllers would (Deployment
// rollouts, Flux Kustomizations) themselves.
package kubetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// EnvBinary names the variable holding the path of the kube-apiserver binary.
const EnvBinary = "FERRY_KUBE_APISERVER"

// startTimeout bounds the wait for a healthy API server, generous for a
// loaded 2-core machine; a start takes about 3 s.
const startTimeout = 2 * time.Minute

// Binary returns the kube-apiserver named by $FERRY_KUBE_APISERVER, skipping
// the test when it is unset and failing it when the file or etcd is missing.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		t.Skipf("%s is unset: run e2e/kube/build.sh and set %s to the path it prints", EnvBinary, EnvBinary)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v (run e2e/kube/build.sh)", EnvBinary, bin, err)
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		t.Fatalf("etcd: %v (apt-get install etcd-server; e2e/setup.sh does)", err)
	}
	return bin
}

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Host is the API server's https URL.
	Host string
	// Kubeconfig is a file with one context, "admin", of a system:masters user.
	Kubeconfig string
	// Config, Client and Dynamic act as that admin.
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface

	dir    string
	caData []byte
}

// Start runs etcd and kube-apiserver until the test ends.
func Start(t testing.TB, bin string) *Cluster {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 3)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	start(t, dir, "etcd", "etcd",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL,
		// kube-apiserver 1.36 needs watch progress notifications.
		"--experimental-watch-progress-notify-interval=1s")

	admin := randomHex(t, 16)
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, []byte(admin+`,admin,admin,"system:masters"`+"\n"))
	saKey := filepath.Join(dir, "sa.key")
	writeFile(t, saKey, rsaKey(t))
	certs := filepath.Join(dir, "certs")
	start(t, dir, "kube-apiserver", bin,
		"--etcd-servers", etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", certs,
		"--token-auth-file", tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range=10.96.0.0/24")

	c := &Cluster{Host: "https://127.0.0.1:" + strconv.Itoa(ports[2]), dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c.waitHealthy(t, ctx, admin, filepath.Join(certs, "apiserver.crt"))
	c.Kubeconfig = c.WriteKubeconfig(t, "admin", admin, "admin", "")
	var err error
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatalf("kubetest: client: %v", err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		t.Fatalf("kubetest: dynamic client: %v", err)
	}
	return c
}

// waitHealthy polls /readyz as the admin until the API server is ready.
func (c *Cluster) waitHealthy(t testing.TB, ctx context.Context, token, caFile string) {
	t.Helper()
	var last error
	for {
		if ca, err := os.ReadFile(caFile); err == nil {
			c.caData = ca
			c.Config = &rest.Config{Host: c.Host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: ca},
				QPS: 100, Burst: 200}
			cs, err := kubernetes.NewForConfig(c.Config)
			if err == nil {
				body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
				if err == nil && strings.TrimSpace(string(body)) == "ok" {
					return
				}
				last = fmt.Errorf("readyz: %v %s", err, body)
			} else {
				last = err
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kubetest: kube-apiserver not ready after %s: %v\n%s", startTimeout, last, tail(filepath.Join(c.dir, "kube-apiserver.log")))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// start runs a process logging to dir/name.log and kills it, with the
// processes it spawned, when the test ends.
func start(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("kubetest: start %s: %v", name, err)
	}
	t.Cleanup(func() {
		killGroup(cmd)
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() && testing.Verbose() {
			t.Logf("%s log:\n%s", name, tail(logPath))
		}
	})
}

// freePorts reserves n loopback ports and frees them for the servers.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("kubetest: free port: %v", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return out
}

func rsaKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("kubetest: service-account key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("kubetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("kubetest: %v", err)
	}
}

// tail is the end of a log file, for a failure message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
