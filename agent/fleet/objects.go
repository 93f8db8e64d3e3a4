package fleet

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/memory"
)

// objectStore is the object database as Snapshots and Commit see it. It is a
// filesystem storage of its own over the clone's directory, serialised by a
// mutex: go-git's filesystem storage loads its pack index lazily without
// locking. Fetch and Push use a second storage instance, so a slow network
// operation never blocks readers; packs that a fetch adds are picked up by
// re-indexing when an object is missing. Git writes a pack's .idx before
// renaming the .pack into place, so a listed pack is always complete.
type objectStore struct {
	mu    sync.Mutex
	s     indexedStorer
	loose int // loose objects written since upkeep last counted (on disk)
}

func (o *objectStore) looseCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.loose
}

func (o *objectStore) setLoose(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.loose = n
}

// indexedStorer is the object database: on disk (*filesystem.Storage) or
// in memory (a clone that lives as long as the process).
type indexedStorer interface {
	storer.EncodedObjectStorer
	Reindex()
}

// memoryObjects is go-git's memory storage made safe for concurrent use:
// it keeps objects and references in plain maps, and a fetch (or another
// clone's push, for a MemoryRemote) writes while Snapshots and other
// sessions read, so every object and reference access takes mu.
type memoryObjects struct {
	*memory.Storage
	mu sync.Mutex
}

func newMemoryObjects() *memoryObjects { return &memoryObjects{Storage: memory.NewStorage()} }

// Reindex: there are no packs to find.
func (*memoryObjects) Reindex() {}

func (m *memoryObjects) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.SetEncodedObject(obj)
}

func (m *memoryObjects) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.EncodedObject(t, h)
}

func (m *memoryObjects) HasEncodedObject(h plumbing.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.HasEncodedObject(h)
}

func (m *memoryObjects) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.EncodedObjectSize(h)
}

var errUnsupported = errors.New("not supported by the fleet object store")

var _ storer.EncodedObjectStorer = (*objectStore)(nil)

func (o *objectStore) NewEncodedObject() plumbing.EncodedObject { return &plumbing.MemoryObject{} }

func (o *objectStore) SetEncodedObject(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s.SetEncodedObject(obj)
}

func (o *objectStore) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.s.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		o.s.Reindex()
		obj, err = o.s.EncodedObject(t, h)
	}
	return obj, err
}

func (o *objectStore) HasEncodedObject(h plumbing.Hash) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.s.HasEncodedObject(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		o.s.Reindex()
		err = o.s.HasEncodedObject(h)
	}
	return err
}

func (o *objectStore) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.s.EncodedObjectSize(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		o.s.Reindex()
		n, err = o.s.EncodedObjectSize(h)
	}
	return n, err
}

// IterEncodedObjects would hand out an iterator that reads outside the lock.
func (o *objectStore) IterEncodedObjects(plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	return nil, errUnsupported
}

func (o *objectStore) AddAlternate(string) error { return errUnsupported }

func (o *objectStore) commit(h plumbing.Hash) (*object.Commit, error) {
	obj, err := o.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	// Checked before decoding: see maxCommitSize.
	if err := commitTooBig(obj); err != nil {
		return nil, err
	}
	c, err := object.DecodeCommit(o, obj)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

// tree decodes a fresh Tree on every call: object.Tree caches lookups in an
// unguarded map, so one must never be shared between goroutines.
func (o *objectStore) tree(h plumbing.Hash) (*object.Tree, error) {
	t, err := object.GetTree(o, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	return t, nil
}

func (o *objectStore) blob(h plumbing.Hash) ([]byte, error) {
	obj, err := o.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	return b, nil
}

// blobUpTo reads blob h when it holds at most max bytes; a larger one is
// an error wrapping ErrTooLarge, its content never copied out.
func (o *objectStore) blobUpTo(h plumbing.Hash, max int64) ([]byte, error) {
	obj, err := o.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	if n := obj.Size(); n > max {
		return nil, &TooLargeError{Size: n, Max: max}
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Size: int64(len(b)), Max: max}
	}
	return b, nil
}

// TooLargeError is a file over the size its reader allows (ReadFileUpTo).
type TooLargeError struct{ Size, Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%d bytes, over the %d allowed", e.Size, e.Max)
}

func (o *objectStore) writeBlob(data []byte) (plumbing.Hash, error) {
	obj := o.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return o.write(obj)
}

// encoder is what object.Tree and object.Commit offer to serialise.
type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func (o *objectStore) writeObject(e encoder) (plumbing.Hash, error) {
	obj := o.NewEncodedObject()
	if err := e.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return o.write(obj)
}

// write skips objects already stored: the same blob or tree recurs often
// (a version bumped back and forth). The check does not re-index: an object
// only in a pack fetched since is written again as a loose object, which is
// harmless, while re-indexing on every new object would not be.
func (o *objectStore) write(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h := obj.Hash()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.s.HasEncodedObject(h); err == nil {
		return h, nil
	}
	if _, err := o.s.SetEncodedObject(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write %s %s: %w", obj.Type(), h, err)
	}
	o.loose++
	return h, nil
}

func (m *memoryObjects) IterEncodedObjects(t plumbing.ObjectType) (storer.EncodedObjectIter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.IterEncodedObjects(t) // a copy of the list: safe to walk unlocked
}

func (m *memoryObjects) SetReference(ref *plumbing.Reference) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.SetReference(ref)
}

func (m *memoryObjects) CheckAndSetReference(ref, old *plumbing.Reference) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.CheckAndSetReference(ref, old)
}

func (m *memoryObjects) Reference(n plumbing.ReferenceName) (*plumbing.Reference, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.Reference(n)
}

func (m *memoryObjects) IterReferences() (storer.ReferenceIter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A copy under the lock: the map may change while the caller iterates.
	refs := make([]*plumbing.Reference, 0, len(m.Storage.ReferenceStorage))
	for _, r := range m.Storage.ReferenceStorage {
		refs = append(refs, r)
	}
	return storer.NewReferenceSliceIter(refs), nil
}

func (m *memoryObjects) RemoveReference(n plumbing.ReferenceName) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.RemoveReference(n)
}

func (m *memoryObjects) CountLooseRefs() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Storage.CountLooseRefs()
}
