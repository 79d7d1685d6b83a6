package cherrypy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
	"github.com/poolwatch/poolwatch/exporter/cherrypytest"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// mainPool reads the app's stats page and returns its main server's pool.
func mainPool(t *testing.T, app *cherrypytest.App) exporter.Pool {
	t.Helper()
	body, err := testproc.HTTPGet(t.Context(), app.StatsURL)
	if err != nil {
		t.Fatal(err)
	}
	pools, _, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	sortMainFirst(pools)
	return pools[0]
}

// keepAlive makes one request on a new HTTP/1.1 connection to the app's main server, reads
// the answer, and returns the connection, kept alive unless the server said it closes it.
func keepAlive(t *testing.T, app *cherrypytest.App) (net.Conn, bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", testproc.HostPort(app.Port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return conn, !resp.Close
}

// queuedAfterHangUps holds every thread of the main server, has kept clients hang up, and
// returns cheroot's Queue before and after, and how many connections the server kept alive.
func queuedAfterHangUps(t *testing.T, extra ...string) (before, after float64, kept int) {
	const threads, clients = 4, 8
	app := cherrypytest.Start(t, threads, extra...)
	var conns []net.Conn
	for range clients {
		conn, alive := keepAlive(t, app)
		conns = append(conns, conn)
		if alive {
			kept++
		}
	}
	app.Occupy(t, threads, 20)
	deadline := time.Now().Add(10 * time.Second)
	for mainPool(t, app).BusyWorkers != threads {
		if time.Now().After(deadline) {
			t.Fatal("the slow requests never took every thread")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A thread still closing a connection of the requests above counts as busy: let the
	// slow requests settle on every thread first.
	time.Sleep(500 * time.Millisecond)
	before = mainPool(t, app).QueuedTasks
	for _, c := range conns {
		c.Close()
	}
	// The selector hands each hung-up connection to the queue at once; give it a moment.
	time.Sleep(time.Second)
	return before, mainPool(t, app).QueuedTasks, kept
}

// cheroot's Queue counts keep-alive connections whose client hung up while every thread was
// busy: the selector sees them readable (at EOF) and queues them like a request. With
// keep_alive_conn_limit = 0 (what examples/cherrypy/app.py sets) nothing is kept alive and
// Queue is the waiting work only.
func TestKeepAliveHangUpsCountInQueue(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		phantom bool
	}{
		{"cheroot default keep_alive_conn_limit=10", []string{"--keep-alive-limit", "10"}, true},
		{"example app keep_alive_conn_limit=0", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, after, kept := queuedAfterHangUps(t, tc.args...)
			t.Logf("%s: %d connections kept alive; Queue %v with every thread busy, %v after their clients hung up",
				tc.name, kept, before, after)
			// Every hung-up connection adds one (a run under load showed one more).
			if phantoms := after - before; tc.phantom && (kept == 0 || phantoms < float64(kept)) {
				t.Errorf("want the %d hung-up keep-alive connections in Queue, got %v more", kept, phantoms)
			}
			if !tc.phantom && (kept != 0 || after != before) {
				t.Errorf("%d connections kept alive and Queue from %v to %v, want none", kept, before, after)
			}
		})
	}
}
