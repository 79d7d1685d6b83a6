package cherrypytest

import (
	"fmt"
	"testing"

	"github.com/poolwatch/poolwatch/internal/testproc"
)

// Hold opens n connections to the main server, each sending GET target (a path below /slow,
// with ?seconds=, holds its thread that long), with [testproc.Hold]. Occupy is Hold on /slow; Hold lets a test put requests on several
// routes, e.g. "/slow/users/42?seconds=30".
func (a *App) Hold(t testing.TB, n int, target string) {
	t.Helper()
	testproc.Hold(t, "tcp", a.mainAddr(), n, 0, []byte(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target)))
}
