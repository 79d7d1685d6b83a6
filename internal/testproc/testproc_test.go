package testproc

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartWaitStop(t *testing.T) {
	RequireTool(t, "a POSIX shell", "apt-get install dash", "/bin/sh", "-c", "true")
	// The child ignores SIGTERM only in its subshell, so the group stop must still end both.
	p := Start(t, Spec{Name: "sleeper", Path: "/bin/sh", Args: []string{"-c", "echo hello; sleep 60"}, Grace: time.Second})
	p.WaitUntil(t, "greeting", 5*time.Second, func() error {
		if !strings.Contains(p.Log(), "hello") {
			return fmt.Errorf("no greeting yet")
		}
		return nil
	})
	if err := p.Running(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Stop(t)
	if p.Running() == nil {
		t.Fatal("still running after Stop")
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("SIGTERM should have ended sleep at once, took %v", d)
	}
	p.Stop(t) // a second stop is a no-op
}

func TestStopKillsWhatIgnoresSIGTERM(t *testing.T) {
	p := Start(t, Spec{Name: "stubborn", Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"}, Grace: 300 * time.Millisecond})
	p.WaitUntil(t, "trap", 5*time.Second, func() error {
		if !strings.Contains(p.Log(), "ready") {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	p.Stop(t)
	select {
	case <-p.Exited():
	default:
		t.Fatal("not exited after Stop")
	}
}

func TestHTTPReady(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "status: ok")
	}))
	defer srv.Close()
	if err := HTTPReady(srv.URL+"/", "ok")(); err != nil {
		t.Errorf("ready page: %v", err)
	}
	if err := HTTPReady(srv.URL+"/", "missing")(); err == nil {
		t.Error("a body without the wanted text counts as ready")
	}
	if err := HTTPReady(srv.URL+"/bad", "")(); err == nil {
		t.Error("a 503 counts as ready")
	}
	if err := TCPReady(strings.TrimPrefix(srv.URL, "http://"))(); err != nil {
		t.Errorf("TCPReady: %v", err)
	}
	if err := TCPReady(HostPort(FreePort(t)))(); err == nil {
		t.Error("TCPReady on a closed port succeeded")
	}
}

// Hold reads each answer until the server closes: a server that waits for its client to
// close (as a PHP-FPM child does) is released as soon as it has answered, and the readers
// are gone by the test's end (goleak checks).
func TestHoldClosesAfterTheAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 3
	got := make(chan string, n)
	released := make(chan struct{}, n)
	go func() {
		var conns []net.Conn
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			go func() {
				buf := make([]byte, 64)
				k, _ := c.Read(buf)
				got <- string(buf[:k])
				fmt.Fprint(c, "answer")
				c.(*net.TCPConn).CloseWrite()
				// Like a PHP-FPM child: free only once the client has closed.
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				released <- struct{}{}
			}()
		}
	}()
	t.Run("hold", func(t *testing.T) {
		Hold(t, "tcp", ln.Addr().String(), n, 50*time.Millisecond, []byte("GET /slow"))
		for range n {
			select {
			case r := <-got:
				if r != "GET /slow" {
					t.Errorf("request %q, want %q", r, "GET /slow")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a request never arrived")
			}
		}
		for range n {
			select {
			case <-released:
			case <-time.After(5 * time.Second):
				t.Fatal("a connection was not closed after its answer")
			}
		}
	})
}
