package gitstate

import (
	"slices"
	"time"
)

// Active is a freeze that holds at some instant.
type Active struct {
	Name, Reason string
	// Until is the end of the current window (exclusive); zero for a
	// freeze that lasts until resolved.
	Until time.Time
}

// Evidence is the entry of the policy input's evidence.freeze:
// {"name", "reason", "until"}, until in RFC 3339 UTC and left out when
// the freeze has no end.
func (a Active) Evidence() map[string]any {
	m := map[string]any{"name": a.Name, "reason": a.Reason}
	if !a.Until.IsZero() {
		m["until"] = a.Until.UTC().Format(time.RFC3339)
	}
	return m
}

const (
	// dstSlack widens the look-back for a start: a window measured on the
	// wall clock may last longer in real time than its duration.
	dstSlack = 48 * time.Hour
	// maxChain bounds how many back-to-back windows Active joins into one.
	maxChain = 64
)

// Active returns the freezes that hold for app in env at t, in file order.
// A fixed range holds from From (inclusive) to Until (exclusive). A
// scheduled freeze holds from each start s of its schedule, in its time
// zone, to s plus Duration on that zone's wall clock (a Friday 18:00 + 62h
// window ends Monday 08:00 local time, DST change or not); windows that
// meet or overlap count as one, and Until is where they end. A nil
// *Freezes holds nothing.
func (fs *Freezes) Active(app, env string, t time.Time) []Active {
	if fs == nil {
		return nil
	}
	var out []Active
	for i, f := range fs.Freezes {
		if !applies(f.Envs, env) || !applies(f.Apps, app) {
			continue
		}
		switch {
		case f.Resolved:
			out = append(out, Active{Name: f.Name, Reason: f.Reason})
		case f.Schedule != "":
			if until, ok := fs.window(i).until(t, f.Duration); ok {
				out = append(out, Active{Name: f.Name, Reason: f.Reason, Until: until})
			}
		case !f.Until.IsZero():
			if (f.From.IsZero() || !t.Before(f.From)) && t.Before(f.Until) {
				out = append(out, Active{Name: f.Name, Reason: f.Reason, Until: f.Until})
			}
		}
	}
	return out
}

// applies reports whether a freeze's list (empty for all) names name.
func applies(list []string, name string) bool {
	return len(list) == 0 || slices.Contains(list, name)
}

// window returns freeze i's compiled schedule, compiling it when fs was
// built by hand rather than parsed.
func (fs *Freezes) window(i int) window {
	if i < len(fs.windows) && fs.windows[i].sched != nil {
		return fs.windows[i]
	}
	return compileSchedule(fs.Freezes[i], func(string, string, ...any) {})
}

// until returns the end of the window holding t, if one does.
func (w window) until(t time.Time, d time.Duration) (time.Time, bool) {
	if w.sched == nil {
		return time.Time{}, false
	}
	s, ok := w.prevStart(t, d+dstSlack)
	if !ok {
		return time.Time{}, false
	}
	end := w.end(s, d)
	if !t.Before(end) {
		return time.Time{}, false
	}
	for range maxChain {
		// a start at or before the end continues the freeze
		if n := w.sched.Next(s); n.IsZero() || n.After(end) {
			break
		}
		n, _ := w.prevStart(end, d+dstSlack)
		e := w.end(n, d)
		if !e.After(end) {
			break
		}
		s, end = n, e
	}
	return end, true
}

// prevStart returns the latest start at or before t, looking back at
// most horizon. The cron library only steps forward, so it probes back
// further and further (from 1/128 of the horizon, so a weekly window
// takes a few probes) and steps forward from the first start it finds.
func (w window) prevStart(t time.Time, horizon time.Duration) (time.Time, bool) {
	t = t.In(w.loc)
	for back := max(time.Minute, horizon/128); ; back *= 2 {
		back = min(back, horizon)
		if s := w.sched.Next(t.Add(-back)); !s.IsZero() && !s.After(t) {
			for {
				n := w.sched.Next(s)
				if n.IsZero() || n.After(t) {
					return s, true
				}
				s = n
			}
		}
		if back == horizon {
			return time.Time{}, false
		}
	}
}

// end adds d to s on the wall clock of the window's zone.
func (w window) end(s time.Time, d time.Duration) time.Time {
	s = s.In(w.loc)
	c := time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), s.Second(), s.Nanosecond(), time.UTC).Add(d)
	return time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), w.loc)
}
