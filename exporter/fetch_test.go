package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func noKeepAlive() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}

func TestFetchNon200(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	_, err := Fetch(context.Background(), noKeepAlive(), srv.URL, MaxBodyBytes)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("err = %v, want the 500 status", err)
	}
}

func TestFetchLimitIsExact(t *testing.T) {
	const limit = 1000
	for size, wantErr := range map[int]bool{limit: false, limit + 1: true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Write(bytes.Repeat([]byte("x"), size))
		}))
		body, err := Fetch(context.Background(), noKeepAlive(), srv.URL, limit)
		srv.Close()
		if wantErr != errors.Is(err, ErrBodyTooLarge) || (!wantErr && len(body) != size) {
			t.Errorf("size %d: len %d, err %v", size, len(body), err)
		}
	}
}

// A 50 MB body is refused without reading it all, whether or not its length is declared.
func TestFetchRefuses50MBBody(t *testing.T) {
	const total = 50 << 20
	for _, declared := range []bool{true, false} {
		t.Run("declared="+strconv.FormatBool(declared), func(t *testing.T) {
			var written atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if declared {
					w.Header().Set("Content-Length", strconv.Itoa(total))
				}
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for written.Load() < total {
					n, err := w.Write(chunk)
					written.Add(int64(n))
					if err != nil {
						return // the client hung up, as it should
					}
					if !declared {
						w.(http.Flusher).Flush()
					}
				}
			}))
			defer srv.Close()
			_, err := Fetch(context.Background(), noKeepAlive(), srv.URL, MaxBodyBytes)
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err = %v, want ErrBodyTooLarge", err)
			}
			// Close waits for the handler, so written is final. Socket buffers let the server
			// get somewhat past the limit, nowhere near 50 MB.
			srv.Close()
			if n := written.Load(); n >= MaxBodyBytes+(8<<20) {
				t.Errorf("server wrote %d bytes before the exporter hung up, limit %d", n, MaxBodyBytes)
			}
		})
	}
}

// A target that accepts the connection but never answers ends at the timeout.
func TestFetchTargetThatNeverAnswers(t *testing.T) {
	// Not accepting is enough: the kernel completes the handshake for the backlog, and the
	// request then waits for an answer that never comes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const timeout = 300 * time.Millisecond
	// start before the deadline is set: on a loaded machine the goroutine can be descheduled
	// between the two, and a start read after it measured 296 ms for a 300 ms deadline.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err = Fetch(ctx, noKeepAlive(), "http://"+l.Addr().String()+"/cpstats/data", MaxBodyBytes)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("took %v, want about %v", elapsed, timeout)
	}
}

// A target that sends headers and then stalls in the body is bounded too.
func TestFetchTargetThatStallsMidBody(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"Cheroot`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Fetch(ctx, noKeepAlive(), srv.URL, MaxBodyBytes); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
}
