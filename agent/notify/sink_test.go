package notify

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// python is Debian's interpreter, where apt installs python3-aiosmtpd.
const python = "/usr/bin/python3"

// smtpSink is a real SMTP server, aiosmtpd, storing what it receives in a
// Maildir.
type smtpSink struct {
	addr string
	dir  string
}

func needAiosmtpd(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import aiosmtpd").Run(); err != nil {
		t.Skip("SMTP receiver tests need aiosmtpd: apt-get install python3-aiosmtpd")
	}
}

// startSink runs `python3 -m aiosmtpd` with the Mailbox handler on host
// (127.0.0.1 unless given) and extra flags such as --tlscert.
func startSink(t *testing.T, host string, flags ...string) *smtpSink {
	t.Helper()
	needAiosmtpd(t)
	if host == "" {
		host = "127.0.0.1"
	}
	// aiosmtpd creates the Maildir (with new/, cur/, tmp/) only if it is missing.
	s := &smtpSink{addr: net.JoinHostPort(host, freePort(t, host)), dir: filepath.Join(t.TempDir(), "maildir")}
	args := append([]string{"-m", "aiosmtpd", "-n", "-l", s.addr}, flags...)
	args = append(args, "-c", "aiosmtpd.handlers.Mailbox", s.dir)
	run(t, exec.Command(python, args...), s.addr)
	return s
}

// startAuthSink runs testdata/auth_sink.py: aiosmtpd requiring AUTH as
// user/password, over STARTTLS when cert and key are given.
func startAuthSink(t *testing.T, user, password string, certKey ...string) *smtpSink {
	t.Helper()
	needAiosmtpd(t)
	s := &smtpSink{addr: "127.0.0.1:" + freePort(t, "127.0.0.1"), dir: filepath.Join(t.TempDir(), "maildir")}
	_, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{"testdata/auth_sink.py", "127.0.0.1", port, s.dir}, certKey...)
	cmd := exec.Command(python, args...)
	cmd.Env = append(os.Environ(), "SINK_USER="+user, "SINK_PASSWORD="+password)
	run(t, cmd, s.addr)
	return s
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run starts cmd and waits until addr greets with 220.
func run(t *testing.T, cmd *exec.Cmd, addr string) {
	t.Helper()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Python takes a moment to import; this bounds a sink that never comes up.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if greets(addr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("aiosmtpd did not listen on %s: %s", addr, out)
		}
	}
}

func greets(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "220")
}

// freePort returns a port nothing listens on now.
func freePort(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// received is one message the sink stored.
type received struct {
	header  mail.Header
	subject string // decoded
	body    string // decoded, LF line ends
	raw     []byte
}

// messages returns what the sink has received, keyed by X-Ferry-Event.
func (s *smtpSink) messages(t *testing.T) []received {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.dir, "new", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parseMessage(t, raw))
	}
	return out
}

func parseMessage(t testing.TB, raw []byte) received {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", m.Header.Get("Subject"), err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("decode body: %v", err)
	}
	return received{header: m.Header, subject: subject, body: lf(string(body)), raw: raw}
}

// lf turns CRLF and lone CR line ends into LF.
func lf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ferry test smtp"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
