package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine (a request of the load, a process waiter, the
// webhook server) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
