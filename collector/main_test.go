package collector

import (
	"testing"

	"go.uber.org/goleak"
)

// Pools start workers and the Limiter's tests start servers: any goroutine left behind by a
// test is a failure. The goroutines already running when the tests start belong to ants's
// package-level default pool (made by its init, used by the ants benchmark's comparison only),
// not to this package.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreCurrent())
}
