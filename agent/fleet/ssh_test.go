package fleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/e2e/gitserver"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshGitServer is a minimal git-over-SSH server: it authenticates one
// public key and runs git-upload-pack / git-receive-pack on repositories
// under root, as sshd with git-shell would.
type sshGitServer struct {
	ln   net.Listener
	root string
	wg   sync.WaitGroup
}

type sshSetup struct {
	addr       string
	keyFile    string // the client's private key, encrypted with passphrase
	passphrase string
	knownHosts string
}

func startSSHServer(t *testing.T, root string) sshSetup {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	setup := sshSetup{passphrase: "correct horse", keyFile: filepath.Join(dir, "id_ed25519"), knownHosts: filepath.Join(dir, "known_hosts")}
	// ssh-keygen writes the encrypted key as users have it; one KDF round
	// keeps decrypting it cheap under -race.
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "1", "-N", setup.passphrase, "-C", "ferry", "-f", setup.keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pubLine, err := os.ReadFile(setup.keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	sshClientPub, _, _, _, err := ssh.ParseAuthorizedKey(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), sshClientPub.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	cfg.AddHostKey(hostSigner)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshGitServer{ln: ln, root: root}
	s.wg.Add(1)
	go s.serve(t, cfg)
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})

	setup.addr = ln.Addr().String()
	line := knownhosts.Line([]string{knownhosts.Normalize(setup.addr)}, hostSigner.PublicKey())
	if err := os.WriteFile(setup.knownHosts, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return setup
}

func (s *sshGitServer) serve(t *testing.T, cfg *ssh.ServerConfig) {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
			if err != nil {
				return // a refused client
			}
			go ssh.DiscardRequests(reqs)
			for nc := range chans {
				if nc.ChannelType() != "session" {
					_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
					continue
				}
				ch, creqs, err := nc.Accept()
				if err != nil {
					return
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.session(t, ch, creqs)
				}()
			}
		}()
	}
}

func (s *sshGitServer) session(t *testing.T, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var payload struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		prog, arg, _ := strings.Cut(payload.Command, " ")
		if prog != "git-upload-pack" && prog != "git-receive-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		repo := filepath.Join(s.root, filepath.Clean("/"+strings.Trim(arg, "'")))
		cmd := exec.Command("git", strings.TrimPrefix(prog, "git-"), repo)
		cmd.Env = gitserver.Env()
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Error(err)
			return
		}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return
		}
		go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
		status := uint32(0)
		if err := cmd.Wait(); err != nil {
			status = 1
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func TestSSH(t *testing.T) {
	t.Parallel()
	f := newFixture(t, seedFiles)
	setup := startSSHServer(t, f.root)
	url := "ssh://git@" + setup.addr + "/fleet.git"
	auth := Auth{SSHKeyFile: setup.keyFile, SSHKeyPassphrase: setup.passphrase, KnownHostsFile: setup.knownHosts}

	t.Run("commit and push", func(t *testing.T) {
		o := testOptions(t, url)
		o.Auth = auth
		r := mustOpen(t, o)
		head := mustFetch(t, r)
		if head.Hash() != f.head(t) {
			t.Fatalf("fetched %s, remote at %s", head.Hash(), f.head(t))
		}
		s, err := r.Commit(head, map[string][]byte{"overlays/dev/kustomization.yaml": bump("3.0.0")}, promote("checkout", "dev", "3.0.0"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if f.head(t) != s.Hash() {
			t.Fatalf("remote at %s, want %s", f.head(t), s.Hash())
		}

		f.cliPush(t, map[string]string{"x": "y"}, "other")
		stale, err := r.Commit(s, map[string][]byte{"z": []byte("z")}, "stale", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Push(context.Background(), stale); !errors.Is(err, ErrNonFastForward) {
			t.Fatalf("push onto a moved remote over ssh: %v", err)
		}
	})

	otherHost := filepath.Join(t.TempDir(), "known_hosts")
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherHost, []byte(knownhosts.Line([]string{knownhosts.Normalize(setup.addr)}, wrong)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name string
		auth Auth
		want string
	}{
		{"wrong passphrase", Auth{SSHKeyFile: setup.keyFile, SSHKeyPassphrase: "wrong horse", KnownHostsFile: setup.knownHosts}, setup.keyFile},
		{"unknown host key", Auth{SSHKeyFile: setup.keyFile, SSHKeyPassphrase: setup.passphrase, KnownHostsFile: otherHost}, "key mismatch"},
		{"missing known_hosts", Auth{SSHKeyFile: setup.keyFile, SSHKeyPassphrase: setup.passphrase, KnownHostsFile: otherHost + ".missing"}, "known hosts"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t, url)
			o.Auth = tt.auth
			_, err := Open(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			for _, secret := range []string{setup.passphrase, "wrong horse"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a passphrase: %v", err)
				}
			}
		})
	}
}
