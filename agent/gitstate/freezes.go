package gitstate

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // timezone: must load in images without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"

	"github.com/ferry-dev/ferry/internal/dnslabel"
)

// FreezesFile is where the fleet repo keeps freeze windows.
const FreezesFile = ".ferry/freeze.yaml"

const (
	freezesKind = "Freezes"
	freezesKey  = "freezes"
	// untilResolved is the until of a freeze that lasts until it is removed.
	untilResolved = "resolved"
	// maxDuration bounds a scheduled window; the cron library looks at
	// most five years ahead, and a longer window is no schedule at all.
	maxDuration = 366 * 24 * time.Hour
)

// Freeze is one freeze window. Exactly one of three shapes is set: a fixed
// range (Until, and From when it has a start), a schedule (Schedule and
// Duration, Timezone optional), or Resolved.
type Freeze struct {
	Name   string   // unique in the file; ferry unfreeze NAME removes it
	Envs   []string // empty: every environment
	Apps   []string // empty: every app
	Reason string

	From  time.Time // fixed range: first frozen instant; zero for "from now"
	Until time.Time // fixed range: first instant no longer frozen

	Schedule string        // cron (5 fields or a descriptor such as @weekly): start of each window
	Duration time.Duration // length of each window, on the wall clock of Timezone
	Timezone string        // IANA zone of Schedule; "" is UTC

	Resolved bool   // until: resolved; lasts until the file says otherwise
	Alert    string // fingerprint of the alert whose resolution lifts it
}

// Freezes is a parsed .ferry/freeze.yaml. Active may be called from
// several goroutines at once.
type Freezes struct {
	Source  string // where it was read from, as given to ParseFreezes
	Freezes []Freeze

	windows []window // compiled schedules, by index of Freezes
}

// window is a compiled schedule.
type window struct {
	sched cron.Schedule
	loc   *time.Location
}

// ParseFreezes decodes a freeze file strictly and checks every window:
// one shape per freeze, times in RFC 3339, a cron schedule with fixed
// start times, a known time zone, a positive duration, unique names.
// source names it in errors. Empty data, or only comments, is no freezes.
func ParseFreezes(source string, data []byte) (*Freezes, error) {
	fs, _, err := parseFreezes(source, data)
	return fs, err
}

func parseFreezes(source string, data []byte) (*Freezes, *document, error) {
	doc, err := parseDocument(source, data, freezesKind, freezesKey)
	if err != nil {
		return nil, nil, err
	}
	ps := newProblems(source)
	fs := &Freezes{Source: source}
	names := map[string]int{}
	for i, n := range doc.items {
		path := indexPath(freezesKey, i)
		var name, reason, from, until, schedule, duration, timezone, alert scalar
		var envs, apps []scalar
		before := ps.Len()
		decodeMap(ps, n, path, []field{
			{name: "name", s: &name}, {name: "envs", list: &envs}, {name: "apps", list: &apps},
			{name: "reason", s: &reason}, {name: "from", s: &from}, {name: "until", s: &until},
			{name: "schedule", s: &schedule}, {name: "duration", s: &duration},
			{name: "timezone", s: &timezone}, {name: "alert", s: &alert},
		}, nil)
		shapeOK := ps.Len() == before
		f := Freeze{Name: name.text, Reason: reason.text, Schedule: schedule.text, Timezone: timezone.text, Alert: alert.text}
		written := map[string]scalar{"name": name, "from": from, "until": until, "schedule": schedule, "duration": duration, "timezone": timezone}
		for _, l := range []struct {
			key  string
			in   []scalar
			dest *[]string
		}{{"envs", envs, &f.Envs}, {"apps", apps, &f.Apps}} {
			for j, s := range l.in {
				*l.dest = append(*l.dest, s.text)
				written[indexPath(l.key, j)] = s
			}
		}
		if from.ok {
			f.From = parseTime(ps, from, joinPath(path, "from"), "")
		}
		if until.ok && until.text == untilResolved {
			f.Resolved = true
		} else if until.ok {
			f.Until = parseTime(ps, until, joinPath(path, "until"), ", or resolved")
		}
		if duration.ok {
			f.Duration, err = time.ParseDuration(duration.text)
			if err != nil || f.Duration <= 0 {
				ps.add(duration.at, joinPath(path, "duration"), "%q is not a positive duration such as 62h or 90m", duration.text)
			}
		}
		var w window
		switch bad := located(ps, path, nodePos(n), written); {
		case !shapeOK:
		case ps.Len() > before: // a time or duration did not parse: the window cannot be judged
			checkFreezeNames(f, bad)
		default:
			w = checkFreeze(f, bad)
		}
		if j, dup := names[f.Name]; dup && f.Name != "" {
			ps.add(name.at, joinPath(path, "name"), "%s is already the name of %s", dnslabel.Quote(f.Name), indexPath(freezesKey, j))
		} else {
			names[f.Name] = i
		}
		fs.Freezes = append(fs.Freezes, f)
		fs.windows = append(fs.windows, w)
	}
	if err := ps.err(); err != nil {
		return nil, nil, err
	}
	return fs, doc, nil
}

// checkFreeze is shared by the parser and AddFreeze; it returns the
// compiled schedule of a scheduled freeze.
func checkFreeze(f Freeze, bad complaint) window {
	checkFreezeNames(f, bad)
	ranged := !f.From.IsZero() || !f.Until.IsZero()
	scheduled := f.Schedule != "" || f.Duration != 0 || f.Timezone != ""
	switch {
	case ranged && f.Resolved:
		bad("from", "cannot be used with until: resolved")
	case scheduled && (ranged || f.Resolved):
		field := "schedule"
		if f.Schedule == "" {
			field = "duration"
			if f.Duration == 0 {
				field = "timezone"
			}
		}
		bad(field, "a scheduled window (schedule, duration, timezone) cannot also have from or until")
	case ranged:
		switch {
		case f.Until.IsZero():
			bad("until", "required with from")
		case !f.From.IsZero() && !f.From.Before(f.Until):
			bad("until", "must be after from (%s)", f.From.Format(time.RFC3339))
		}
	case scheduled:
		return compileSchedule(f, bad)
	case !f.Resolved:
		bad("", "needs a window: from and until, schedule and duration, or until: resolved")
	}
	return window{}
}

// checkFreezeNames checks what a freeze names, whatever its window.
func checkFreezeNames(f Freeze, bad complaint) {
	checkName(bad, "name", f.Name, true)
	for i, e := range f.Envs {
		checkName(bad, indexPath("envs", i), e, true)
	}
	for i, a := range f.Apps {
		checkName(bad, indexPath("apps", i), a, true)
	}
	checkText(bad, "reason", f.Reason)
	checkText(bad, "alert", f.Alert)
}

// reference is where compileSchedule asks whether a schedule ever fires.
var reference = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func compileSchedule(f Freeze, report complaint) window {
	failed := false
	bad := func(field, format string, args ...any) {
		failed = true
		report(field, format, args...)
	}
	switch {
	case f.Duration == 0:
		bad("duration", "required with schedule, such as 62h")
	case f.Duration < 0:
		bad("duration", "must be positive")
	case f.Duration > maxDuration:
		bad("duration", "%s is longer than a year", DurationText(f.Duration))
	}
	loc, err := time.UTC, error(nil)
	switch f.Timezone {
	case "":
	case "Local":
		bad("timezone", `"Local" depends on the machine; name a zone such as Europe/Paris`)
	default:
		if loc, err = time.LoadLocation(f.Timezone); err != nil {
			bad("timezone", "%q is not an IANA time zone such as Europe/Paris", f.Timezone)
		}
	}
	spec := strings.TrimSpace(f.Schedule)
	if spec == "" {
		bad("schedule", "required with duration, such as \"0 18 * * FRI\"")
		return window{}
	}
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		bad("schedule", "set the time zone with timezone:, not in the schedule")
		return window{}
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		bad("schedule", "%q is not a cron schedule (5 fields, or @daily, @weekly, ...): %v", spec, err)
		return window{}
	}
	if _, ok := sched.(cron.ConstantDelaySchedule); ok {
		bad("schedule", "%q has no fixed start times; use 5 cron fields or @daily, @weekly, ...", spec)
		return window{}
	}
	if failed {
		return window{}
	}
	if sched.Next(reference.In(loc)).IsZero() {
		bad("schedule", "%q never fires", spec)
		return window{}
	}
	return window{sched: sched, loc: loc}
}

// validFreeze checks f outside a file, for AddFreeze.
func validFreeze(f Freeze) error {
	var msgs []string
	checkFreeze(f, func(field, format string, args ...any) {
		msgs = append(msgs, strings.TrimPrefix(field+": ", ": ")+fmt.Sprintf(format, args...))
	})
	if len(msgs) > 0 {
		return fmt.Errorf("freeze %s: %s", dnslabel.Quote(f.Name), strings.Join(msgs, "; "))
	}
	return nil
}
