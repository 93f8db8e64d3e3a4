// Package gitstate reads and edits the two files of the fleet repo that
// hold people's and ferry's decisions: rejected versions and freeze
// windows. ferry keeps no state Git does not hold, so a rejection or a
// freeze is a commit of one of these files; this package works on their
// bytes and the caller reads and commits them.
//
// .ferry/rejected.yaml lists versions no environment may receive:
//
//	apiVersion: ferry.dev/v1alpha1
//	kind: Rejections
//	rejected:
//	  - app: checkout           # required, a DNS label
//	    version: 1.4.2          # required, as written ("1.10" stays "1.10")
//	    digest: sha256:...      # optional: reject only that digest
//	    env: prod               # optional: where it failed (informational)
//	    reason: "alert HighErrorRate firing in prod"
//	    at: 2026-11-25T18:00:00Z  # optional, RFC 3339
//	    by: ferry               # optional: ferry or a person
//
// A rejection applies to every environment. Policies see the versions in
// input.evidence.rejected (Rejections.Versions).
//
// .ferry/freeze.yaml lists freeze windows, each in exactly one of three
// shapes:
//
//	apiVersion: ferry.dev/v1alpha1
//	kind: Freezes
//	freezes:
//	  - name: black-friday      # required, unique, a DNS label
//	    envs: [prod, dr]        # empty or absent: every env
//	    apps: [checkout]        # empty or absent: every app
//	    reason: "black friday"
//	    from: 2026-11-27T00:00:00Z   # fixed range; from is optional
//	    until: 2026-11-30T00:00:00Z  # (absent: from now), until exclusive
//	  - name: weekend
//	    envs: [prod]
//	    reason: "no prod changes at the weekend"
//	    schedule: "0 18 * * FRI"     # cron, 5 fields or @daily, @weekly, ...:
//	    duration: 62h                # the start of each window and its length
//	    timezone: Europe/Paris       # optional, default UTC
//	  - name: incident-1234
//	    envs: [prod]
//	    reason: "rollback of checkout 1.4.2: alert HighErrorRate"
//	    until: resolved              # holds until removed from the file
//	    alert: <fingerprint>         # optional: RemoveFreezesForAlert lifts it
//
// A scheduled window lasts its duration on the wall clock of its time zone:
// Friday 18:00 + 62h ends Monday 08:00 local time even when the clocks
// change in between, and a start in the hour the clocks skip does not
// happen that day. "@every" schedules are refused (they have no fixed
// start times), as is a time zone inside the schedule (use timezone:).
// Policies see the freezes that hold in input.evidence.freeze
// (Active.Evidence).
//
// Both files are strict: unknown fields, values of the wrong shape, tags
// other than !!str, !!map and !!seq, anchors and aliases are errors, each
// reported as "<source>:<line>:<col>: <path>: <what is wrong>". Empty
// data, or only comments, is a file with no entries.
//
// The edit functions (AddRejection, RemoveRejection, AddFreeze,
// RemoveFreeze, RemoveFreezesForAlert) change only the lines of the
// entries concerned, so people's comments, blank lines and quoting stay
// and the commit's diff is the entry. A file in a shape that cannot be
// edited line by line (a flow-style list with entries, a flow mapping) is
// written out again in the documented form, without its comments. Every
// edit is read back before it is returned.
package gitstate
