package agent

import (
	"github.com/ferry-dev/ferry/agent/notify"
)

// Notifier hears about what ferry did; it must never block.
type Notifier interface {
	Notify(ev notify.Event)
}

func (a *Agent) notify(ev notify.Event) {
	if a.notifier != nil {
		ev.Time = a.now()
		a.notifier.Notify(ev)
	}
}

// SetNotifier makes the agent tell n what it does.
func (a *Agent) SetNotifier(n Notifier) { a.notifier = n }
