package fleet

import (
	"errors"
	"strings"
)

var (
	// ErrNonFastForward means the remote branch holds commits the pushed
	// snapshot does not descend from: Fetch, redo the change on the new head
	// and push again.
	ErrNonFastForward = errors.New("remote branch has moved on (non-fast-forward)")
	// ErrEmptyRemote means the remote has no commits on the branch (an empty
	// repository or a missing branch).
	ErrEmptyRemote = errors.New("remote branch has no commits")
	// ErrNoChange means a Commit would not change the parent's tree.
	ErrNoChange = errors.New("nothing to commit")
	// ErrBrokenLink is a symbolic link that leaves the repository or leads
	// to nothing: an error, unlike an absent path (fs.ErrNotExist).
	ErrBrokenLink = errors.New("broken symbolic link")
)

// redactedError hides secrets in the message of an error it still unwraps
// to, so errors.Is keeps working.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact replaces every non-empty secret in err's message. Transports should
// never echo credentials, this makes sure of it.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "REDACTED")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}
