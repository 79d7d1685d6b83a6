package cherrypytest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// Hold opens n connections to the main server, each sending GET target (a path below /slow,
// with ?seconds=, holds its thread that long), and does not read the answers. They are
// closed in t.Cleanup. Occupy is Hold on /slow; Hold lets a test put requests on several
// routes, e.g. "/slow/users/42?seconds=30".
func (a *App) Hold(t testing.TB, n int, target string) {
	t.Helper()
	for range n {
		conn, err := net.DialTimeout("tcp", a.mainAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", target)
		if err != nil {
			t.Fatal(err)
		}
	}
}
