package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// MemoryScheme is the URL scheme of remotes held in memory: a real git
// remote (go-git's own upload-pack and receive-pack servers over an
// in-memory object store) without processes, sockets or disks. The
// deterministic simulation of the agent runs thousands of pushes through it;
// `ferry demo` could too.
const MemoryScheme = "ferry-mem"

var (
	memMu      sync.Mutex
	memRemotes = map[string]*MemoryRemote{}
	memOnce    sync.Once
)

// MemoryRemote is a repository served at ferry-mem://NAME. Reference
// updates are compare-and-swap under a lock, as git receive-pack does them:
// a push whose old value is not the ref's current value is refused as a
// non-fast-forward, whatever the client believed.
type MemoryRemote struct {
	name    string
	storage *memoryObjects // safe for the sessions of several clones at once
	mu      sync.Mutex     // serialises reference updates
	// Refuse, when set, is asked before each reference update; an error
	// refuses the push with that message, as a pre-receive hook would.
	refuse func(ref string) error
	// before, when set, runs before a push takes the lock: another writer's
	// push can land there, racing the one in flight.
	before func()
}

// NewMemoryRemote makes an empty repository at ferry-mem://name, replacing
// any earlier one of that name.
func NewMemoryRemote(name string) *MemoryRemote {
	memOnce.Do(func() { client.InstallProtocol(MemoryScheme, memTransport{}) })
	m := &MemoryRemote{name: name, storage: newMemoryObjects()}
	memMu.Lock()
	memRemotes[name] = m
	memMu.Unlock()
	return m
}

// Close forgets the remote: its URL no longer resolves and its objects can
// be collected (a simulation makes thousands).
func (m *MemoryRemote) Close() {
	memMu.Lock()
	if memRemotes[m.name] == m {
		delete(memRemotes, m.name)
	}
	memMu.Unlock()
}

// URL is the remote's URL for Options.URL.
func (m *MemoryRemote) URL() string { return MemoryScheme + "://" + m.name }

// SetRefuse installs (or, with nil, removes) a pre-receive check.
func (m *MemoryRemote) SetRefuse(fn func(ref string) error) {
	m.mu.Lock()
	m.refuse = fn
	m.mu.Unlock()
}

// SetBeforePush installs (or, with nil, removes) a function run before each
// push is applied, outside the lock: a test makes another writer win a race
// there.
func (m *MemoryRemote) SetBeforePush(fn func()) {
	m.mu.Lock()
	m.before = fn
	m.mu.Unlock()
}

// Head is the commit a reference points at; "" when it does not exist.
func (m *MemoryRemote) Head(ref string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.storage.Reference(plumbing.ReferenceName(ref))
	if err != nil {
		return ""
	}
	return r.Hash().String()
}

// memTransport serves every MemoryRemote by name.
type memTransport struct{}

func lookup(ep *transport.Endpoint) (*MemoryRemote, error) {
	memMu.Lock()
	defer memMu.Unlock()
	m, ok := memRemotes[ep.Host]
	if !ok {
		return nil, transport.ErrRepositoryNotFound
	}
	return m, nil
}

func (memTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	m, err := lookup(ep)
	if err != nil {
		return nil, err
	}
	return server.NewServer(server.MapLoader{ep.String(): m.storage}).NewUploadPackSession(ep, auth)
}

func (memTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	m, err := lookup(ep)
	if err != nil {
		return nil, err
	}
	s, err := server.NewServer(server.MapLoader{ep.String(): m.storage}).NewReceivePackSession(ep, auth)
	if err != nil {
		return nil, err
	}
	return &casSession{ReceivePackSession: s, remote: m}, nil
}

// casSession adds what go-git's in-process server leaves out: it updates
// references without comparing their old value, which would make every
// push a force push.
type casSession struct {
	transport.ReceivePackSession
	remote *MemoryRemote
}

func (s *casSession) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	m := s.remote
	m.mu.Lock()
	before := m.before
	m.mu.Unlock()
	if before != nil {
		before()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cmd := range req.Commands {
		cur, err := m.storage.Reference(cmd.Name)
		switch {
		case errors.Is(err, plumbing.ErrReferenceNotFound):
			if !cmd.Old.IsZero() {
				return nil, fmt.Errorf("%s: non-fast-forward: the ref is gone", cmd.Name)
			}
		case err != nil:
			return nil, err
		case cur.Hash() != cmd.Old:
			return nil, fmt.Errorf("%s: non-fast-forward: it is at %s, not %s", cmd.Name, cur.Hash().String()[:12], cmd.Old.String()[:12])
		}
		if m.refuse != nil {
			if err := m.refuse(cmd.Name.String()); err != nil {
				return nil, fmt.Errorf("pre-receive hook declined %s: %w", cmd.Name, err)
			}
		}
	}
	return s.ReceivePackSession.ReceivePack(ctx, req)
}

var _ storer.Storer = (*memoryObjects)(nil)
