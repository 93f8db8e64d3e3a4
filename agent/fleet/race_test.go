//go:build race

package fleet

// raceEnabled: the race detector slows the many-commit tests ~5x, so they
// make fewer commits under it.
const raceEnabled = true
