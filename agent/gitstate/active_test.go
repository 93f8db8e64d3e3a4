package gitstate

import (
	"reflect"
	"testing"
	"time"
)

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func freezes(t *testing.T, fs ...Freeze) *Freezes {
	t.Helper()
	var data []byte
	for _, f := range fs {
		var err error
		if data, err = AddFreeze(data, f); err != nil {
			t.Fatal(err)
		}
	}
	parsed, err := ParseFreezes("test", data)
	if err != nil {
		t.Fatal(err)
	}
	return parsed
}

// check asserts which freeze (by name, "" for none) holds at each instant
// and until when.
type check struct {
	at    time.Time
	name  string
	until time.Time
}

func runChecks(t *testing.T, fs *Freezes, app, env string, checks []check) {
	t.Helper()
	for _, c := range checks {
		got := fs.Active(app, env, c.at)
		switch {
		case c.name == "" && len(got) != 0:
			t.Errorf("at %s: %+v active, want none", c.at, got)
		case c.name != "" && (len(got) != 1 || got[0].Name != c.name || !got[0].Until.Equal(c.until)):
			t.Errorf("at %s: %+v, want %s until %s", c.at, got, c.name, c.until.UTC())
		}
	}
}

// TestActiveWeekendAcrossDST: "0 18 * * FRI" for 62h in Europe/Paris
// starts at 18:00 local and ends Monday 08:00 local on both sides of
// each DST change, whatever that makes the real length.
func TestActiveWeekendAcrossDST(t *testing.T) {
	p := paris(t)
	at := func(y int, m time.Month, d, h, min, s int) time.Time { return time.Date(y, m, d, h, min, s, 0, p) }
	fs := freezes(t, Freeze{Name: "weekend", Envs: []string{"prod"}, Reason: "weekend",
		Schedule: "0 18 * * FRI", Duration: 62 * time.Hour, Timezone: "Europe/Paris"})
	november := at(2026, 11, 30, 8, 0, 0)
	spring := at(2026, 3, 30, 8, 0, 0)  // DST starts Sunday 2026-03-29
	autumn := at(2026, 10, 26, 8, 0, 0) // DST ends Sunday 2026-10-25
	runChecks(t, fs, "checkout", "prod", []check{
		{at(2026, 11, 27, 17, 59, 59), "", time.Time{}},
		{at(2026, 11, 27, 18, 0, 0), "weekend", november}, // start: inclusive
		{at(2026, 11, 28, 0, 0, 0), "weekend", november},  // across midnight
		{at(2026, 11, 30, 7, 59, 59), "weekend", november},
		{at(2026, 11, 30, 8, 0, 0), "", time.Time{}}, // end: exclusive
		{at(2026, 12, 2, 12, 0, 0), "", time.Time{}},
		{at(2026, 3, 27, 18, 0, 0), "weekend", spring},
		{time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), "weekend", spring}, // just after the clocks went forward
		{time.Date(2026, 3, 30, 5, 59, 59, 0, time.UTC), "weekend", spring},
		{time.Date(2026, 3, 30, 6, 0, 0, 0, time.UTC), "", time.Time{}}, // 08:00 CEST: 61h after the start
		{time.Date(2026, 4, 3, 15, 59, 59, 0, time.UTC), "", time.Time{}},
		{time.Date(2026, 4, 3, 16, 0, 0, 0, time.UTC), "weekend", at(2026, 4, 6, 8, 0, 0)}, // 18:00 CEST
		{at(2026, 10, 23, 18, 0, 0), "weekend", autumn},
		{time.Date(2026, 10, 26, 6, 30, 0, 0, time.UTC), "weekend", autumn}, // 62h real time have passed
		{time.Date(2026, 10, 26, 7, 0, 0, 0, time.UTC), "", time.Time{}},    // 08:00 CET: 63h after the start
	})
	if spring.Sub(at(2026, 3, 27, 18, 0, 0)) != 61*time.Hour || autumn.Sub(at(2026, 10, 23, 18, 0, 0)) != 63*time.Hour {
		t.Fatal("test dates do not straddle the DST changes")
	}
	runChecks(t, fs, "checkout", "qa", []check{{at(2026, 11, 28, 12, 0, 0), "", time.Time{}}})
}

// TestActiveDSTGaps: a window whose start falls in the hour the clocks
// skip does not happen that day; one in the hour that repeats ends at its
// wall-clock end.
func TestActiveDSTGaps(t *testing.T) {
	fs := freezes(t, Freeze{Name: "night", Schedule: "30 2 * * *", Duration: time.Hour, Timezone: "Europe/Paris"})
	utc := func(m time.Month, d, h, min int) time.Time { return time.Date(2026, m, d, h, min, 0, 0, time.UTC) }
	runChecks(t, fs, "a", "prod", []check{
		{utc(3, 28, 1, 45), "night", utc(3, 28, 2, 30)}, // 02:45 CET, the day before
		{utc(3, 29, 1, 0), "", time.Time{}},             // 03:00 CEST: 02:30 did not exist
		{utc(3, 29, 1, 45), "", time.Time{}},
		{utc(3, 30, 0, 45), "night", utc(3, 30, 1, 30)}, // 02:45 CEST
		{utc(10, 25, 0, 45), "night", utc(10, 25, 2, 30)},
		{utc(10, 25, 1, 45), "night", utc(10, 25, 2, 30)}, // 02:45 CET, the repeated hour
		{utc(10, 25, 2, 30), "", time.Time{}},             // 03:30 CET
	})
}

// TestActiveBoundaries: daily windows across midnight and the new year,
// weekly ones across the week, and back-to-back windows joined.
func TestActiveBoundaries(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	nightly := freezes(t, Freeze{Name: "nightly", Schedule: "0 22 * * *", Duration: 4 * time.Hour})
	runChecks(t, nightly, "a", "prod", []check{
		{utc(2026, 12, 31, 21, 59), "", time.Time{}},
		{utc(2026, 12, 31, 22, 0), "nightly", utc(2027, 1, 1, 2, 0)},
		{utc(2026, 12, 31, 23, 59), "nightly", utc(2027, 1, 1, 2, 0)},
		{utc(2027, 1, 1, 1, 59), "nightly", utc(2027, 1, 1, 2, 0)},
		{utc(2027, 1, 1, 2, 0), "", time.Time{}},
	})
	sunday := freezes(t, Freeze{Name: "sunday-night", Schedule: "0 20 * * SUN", Duration: 14 * time.Hour})
	runChecks(t, sunday, "a", "prod", []check{
		{utc(2026, 11, 29, 20, 0), "sunday-night", utc(2026, 11, 30, 10, 0)},
		{utc(2026, 11, 30, 9, 0), "sunday-night", utc(2026, 11, 30, 10, 0)}, // Monday, next week
		{utc(2026, 11, 30, 10, 0), "", time.Time{}},
		{utc(2026, 11, 29, 19, 59), "", time.Time{}},
	})
	weekend := freezes(t, Freeze{Name: "weekend", Schedule: "0 0 * * SAT,SUN", Duration: 24 * time.Hour})
	runChecks(t, weekend, "a", "prod", []check{
		{utc(2026, 11, 28, 10, 0), "weekend", utc(2026, 11, 30, 0, 0)}, // Saturday's window runs into Sunday's
		{utc(2026, 11, 29, 23, 59), "weekend", utc(2026, 11, 30, 0, 0)},
		{utc(2026, 11, 30, 0, 0), "", time.Time{}},
	})
	weekly := freezes(t, Freeze{Name: "weekly", Schedule: "@weekly", Duration: 36 * time.Hour})
	runChecks(t, weekly, "a", "prod", []check{
		{utc(2026, 11, 28, 23, 59), "", time.Time{}},
		{utc(2026, 11, 29, 0, 0), "weekly", utc(2026, 11, 30, 12, 0)},
		{utc(2026, 11, 30, 11, 59), "weekly", utc(2026, 11, 30, 12, 0)},
	})
}

// TestActiveRangesAndResolved: from inclusive, until exclusive; an open
// start; resolved freezes hold until removed; envs and apps narrow.
func TestActiveRangesAndResolved(t *testing.T) {
	from, until := date("2026-11-27T00:00:00Z"), date("2026-11-30T00:00:00+01:00")
	fs, err := ParseFreezes("freeze.yaml", readFile(t, "freeze.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fs.Freezes = fs.Freezes[:1] // black-friday only
	fs.Freezes[0].Until = until
	runChecks(t, fs, "checkout", "prod", []check{
		{from.Add(-time.Nanosecond), "", time.Time{}},
		{from, "black-friday", until},
		{until.Add(-time.Nanosecond), "black-friday", until},
		{until, "", time.Time{}},
	})
	runChecks(t, fs, "checkout", "dr", []check{{from, "black-friday", until}})
	runChecks(t, fs, "cart", "prod", []check{{from, "", time.Time{}}})
	runChecks(t, fs, "checkout", "qa", []check{{from, "", time.Time{}}})

	open := freezes(t, Freeze{Name: "until-monday", Until: until}, Freeze{Name: "incident", Reason: "alert", Resolved: true, Alert: "fp"})
	got := open.Active("any", "prod", date("2000-01-01T00:00:00Z"))
	want := []Active{{Name: "until-monday", Until: until}, {Name: "incident", Reason: "alert"}}
	if len(got) != 2 || got[0].Name != want[0].Name || !got[0].Until.Equal(until) || !reflect.DeepEqual(got[1], want[1]) {
		t.Errorf("Active = %+v, want %+v", got, want)
	}
	got = open.Active("any", "prod", until)
	if !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("after the range: %+v, want only the resolved freeze", got)
	}
	var none *Freezes
	if got := none.Active("a", "prod", from); got != nil {
		t.Errorf("nil Freezes: %+v", got)
	}
}

// TestActiveHandBuilt: a Freezes built in code rather than parsed still
// evaluates its schedules.
func TestActiveHandBuilt(t *testing.T) {
	fs := &Freezes{Freezes: []Freeze{{Name: "nightly", Schedule: "0 22 * * *", Duration: 4 * time.Hour}}}
	got := fs.Active("a", "b", date("2026-11-25T23:00:00Z"))
	if len(got) != 1 || !got[0].Until.Equal(date("2026-11-26T02:00:00Z")) {
		t.Errorf("Active = %+v", got)
	}
}

func TestEvidence(t *testing.T) {
	p := paris(t)
	for _, tc := range []struct {
		in   Active
		want map[string]any
	}{
		{Active{Name: "black-friday", Reason: "black friday", Until: time.Date(2026, 11, 30, 1, 0, 0, 0, p)},
			map[string]any{"name": "black-friday", "reason": "black friday", "until": "2026-11-30T00:00:00Z"}},
		{Active{Name: "incident-1234", Reason: "rollback"}, map[string]any{"name": "incident-1234", "reason": "rollback"}},
	} {
		if got := tc.in.Evidence(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Evidence() = %v, want %v", got, tc.want)
		}
	}
}

// BenchmarkActive is one reconcile pass's question for one app and env.
func BenchmarkActive(b *testing.B) {
	fs, err := ParseFreezes("freeze.yaml", readFile(b, "freeze.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	t := date("2026-11-28T12:00:00Z")
	for b.Loop() {
		fs.Active("checkout", "prod", t)
	}
}
