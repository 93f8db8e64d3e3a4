// Package notify tells people what ferry did: promotions, denials, opened
// pull requests, rollbacks and failed analyses, by email (SMTP), generic
// webhook and Slack-compatible webhook.
//
// Delivery is asynchronous: a Dispatcher queues events and retries failed
// sends in the background, so a notifier that is down never blocks or
// delays a promotion or a rollback. It drops (and counts) what it cannot
// queue instead of waiting.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind is what happened. Its values are the names ferry.yaml uses in
// notifications.events.
type Kind string

// The kinds of event ferry notifies about.
const (
	Promotion         Kind = "promotion"
	Denial            Kind = "denial"
	PullRequestOpened Kind = "pullRequestOpened"
	Rollback          Kind = "rollback"
	AnalysisFailed    Kind = "analysisFailed"
	// UntrustedTag: a newer tag passed over, no signature of it verifies.
	UntrustedTag Kind = "untrustedTag"
	// UnverifiedCommit: a version set by a commit no allowed signer signed
	// (git.verifyCommits); Env is where it was set.
	UnverifiedCommit Kind = "unverifiedCommit"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{Promotion, Denial, PullRequestOpened, Rollback, AnalysisFailed, UntrustedTag, UnverifiedCommit}

// ParseKind returns the kind named s, as written in ferry.yaml.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown notification event %q (want one of promotion, denial, pullRequestOpened, rollback, analysisFailed, untrustedTag, unverifiedCommit)", s)
}

// Event is one thing to tell people about. The JSON field names are the
// webhook payload and are stable:
//
//	{"kind": "promotion", "app": "web", "env": "prod", "version": "1.4.2",
//	 "from": "ppd", "commit": "<fleet commit>", "url": "<link>",
//	 "reason": "...", "reasons": ["..."], "time": "2026-01-02T15:04:05Z"}
//
// Empty optional fields are left out of the JSON.
type Event struct {
	Kind    Kind   `json:"kind"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Version string `json:"version"`
	// From is where the version came from: the source environment (or
	// "registry") for a promotion, denial or pull request; the replaced,
	// bad version for a rollback.
	From string `json:"from,omitempty"`
	// Commit is the fleet commit that carried the change, if any.
	Commit string `json:"commit,omitempty"`
	// URL links to more: the pull request, the commit, the analysis.
	URL string `json:"url,omitempty"`
	// Reason is a one-line summary; Reasons are the details (e.g. every
	// policy denial reason).
	Reason  string    `json:"reason,omitempty"`
	Reasons []string  `json:"reasons,omitempty"`
	Time    time.Time `json:"time"`
}

// Sender delivers one event to one destination. A Sender is called by one
// goroutine at a time; ctx bounds one attempt.
type Sender interface {
	Send(ctx context.Context, ev Event) error
}

// permanentError marks a failure that retrying cannot fix (a rejected
// request, a bad recipient), so the Dispatcher gives up at once.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so the Dispatcher does not retry it. Senders written
// outside this package may use it too.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, came from Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
