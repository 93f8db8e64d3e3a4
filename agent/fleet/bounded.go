package fleet

import (
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage"
)

// maxCommitSize bounds a commit object ferry decodes. A real commit is a few
// KB (a signature is under 2 KB); go-git's object.Commit.Decode appends each
// header line to PGPSignature by string concatenation, so a commit with a
// multi-megabyte gpgsig header takes minutes of CPU to decode and cannot be
// interrupted. Anyone who can push to the fleet repo could make one.
const maxCommitSize = 1 << 20

// commitTooBig refuses a commit object over maxCommitSize, before decoding.
func commitTooBig(obj plumbing.EncodedObject) error {
	if obj.Type() == plumbing.CommitObject && obj.Size() > maxCommitSize {
		return fmt.Errorf("commit %s is %d bytes, over the 1 MiB a commit may be: not read", obj.Hash().String()[:12], obj.Size())
	}
	return nil
}

// boundedStorer is the storage go-git's Remote works on: it refuses an
// oversized commit object, so that fetch's negotiation (which walks up to
// 100 local commits per ref to list its haves) never decodes one. go-git
// treats the error as "not a have" and goes on.
type boundedStorer struct{ storage.Storer }

func (b boundedStorer) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	obj, err := b.Storer.EncodedObject(t, h)
	if err != nil {
		return nil, err
	}
	if err := commitTooBig(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// boundedPackStorer keeps the storage's PackfileWriter visible: without it a
// fetch would store every object loose.
type boundedPackStorer struct {
	boundedStorer
	pw storer.PackfileWriter
}

func (b boundedPackStorer) PackfileWriter() (io.WriteCloser, error) { return b.pw.PackfileWriter() }

func bounded(s storage.Storer) storage.Storer {
	if pw, ok := s.(storer.PackfileWriter); ok {
		return boundedPackStorer{boundedStorer{s}, pw}
	}
	return boundedStorer{s}
}
