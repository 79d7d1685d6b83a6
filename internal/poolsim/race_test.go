//go:build race

package poolsim

// raceEnabled: the race detector slows the simulation tenfold; the largest runs are left to
// the scenario suite.
const raceEnabled = true
