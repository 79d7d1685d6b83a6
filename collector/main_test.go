package collector

import (
	"testing"

	"go.uber.org/goleak"
)

// Pools start workers and the Limiter's tests start servers: any goroutine left behind by a
// test is a failure.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
