package collector

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// capabilities lists the optional interfaces a writer has, as a handler would find them by
// type assertion.
func capabilities(w http.ResponseWriter) string {
	var has []string
	if _, ok := w.(http.Flusher); ok {
		has = append(has, "Flusher")
	}
	if _, ok := w.(http.Hijacker); ok {
		has = append(has, "Hijacker")
	}
	if _, ok := w.(io.ReaderFrom); ok {
		has = append(has, "ReaderFrom")
	}
	if _, ok := w.(http.Pusher); ok {
		has = append(has, "Pusher")
	}
	if _, ok := w.(closeNotifier); ok {
		has = append(has, "CloseNotifier")
	}
	return strings.Join(has, ",")
}

// probe answers with the capabilities of its writer and whether http.ResponseController
// reaches the server's writer (SetWriteDeadline is supported by net/http's own writers only).
var probe = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	deadline := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(w, "%s deadline=%v", capabilities(w), deadline)
})

// TestLimiterWriterHasExactlyTheServersInterfaces: behind the Limiter, a handler finds the
// same optional interfaces as without it, on HTTP/1.1 (Flusher, Hijacker, ReaderFrom) and on
// HTTP/2 (Flusher, Pusher: no Hijacker, whose Hijack would fail), both with the deprecated
// http.CloseNotifier as promhttp's delegator keeps it, and ResponseController
// still reaches the connection.
func TestLimiterWriterHasExactlyTheServersInterfaces(t *testing.T) {
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			answers := map[string]string{}
			for _, limited := range []bool{false, true} {
				var h http.Handler = probe
				if limited {
					h = NewLimiter("writer", 1).Wrap(probe)
				}
				srv := httptest.NewUnstartedServer(h)
				if proto == "HTTP/2.0" {
					srv.EnableHTTP2 = true
					srv.StartTLS()
				} else {
					srv.Start()
				}
				resp, err := srv.Client().Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				srv.Close()
				if resp.Proto != proto {
					t.Fatalf("served over %s, want %s", resp.Proto, proto)
				}
				answers[fmt.Sprint(limited)] = string(body)
			}
			if answers["true"] != answers["false"] {
				t.Errorf("behind the Limiter: %q; the server's own writer: %q", answers["true"], answers["false"])
			}
			if !strings.HasSuffix(answers["true"], "deadline=<nil>") {
				t.Errorf("http.ResponseController did not reach the server's writer: %q", answers["true"])
			}
		})
	}
}

// fullWriter has every optional interface, and records what reached it.
type fullWriter struct {
	*httptest.ResponseRecorder
	calls []string
}

func (f *fullWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	f.calls = append(f.calls, "Hijack")
	return nil, nil, nil
}

func (f *fullWriter) ReadFrom(r io.Reader) (int64, error) {
	f.calls = append(f.calls, "ReadFrom")
	return io.Copy(f.ResponseRecorder, r)
}

func (f *fullWriter) Push(string, *http.PushOptions) error {
	f.calls = append(f.calls, "Push")
	return nil
}

func (f *fullWriter) Flush() { f.calls = append(f.calls, "Flush") }

func (f *fullWriter) CloseNotify() <-chan bool {
	f.calls = append(f.calls, "CloseNotify")
	return nil
}

// TestLimiterWriterPassesEachInterfaceThrough: the writer's methods reach the wrapped writer's,
// and the status of a body sent with ReadFrom counts; with fewer interfaces, fewer are claimed.
func TestLimiterWriterPassesEachInterfaceThrough(t *testing.T) {
	l := NewLimiter("through", 1)
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := capabilities(w); got != "Flusher,Hijacker,ReaderFrom,Pusher,CloseNotifier" {
			t.Errorf("capabilities %q, want all five", got)
		}
		_, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("body"))
		w.(http.Flusher).Flush()
		_ = w.(http.Pusher).Push("/style.css", nil)
		_ = w.(closeNotifier).CloseNotify()
		_, _, _ = w.(http.Hijacker).Hijack()
	}))
	fw := &fullWriter{ResponseRecorder: httptest.NewRecorder()}
	h.ServeHTTP(fw, httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(fw.calls, ","); got != "ReadFrom,Flush,Push,CloseNotify,Hijack" || fw.Body.String() != "body" {
		t.Errorf("reached the writer: %q with body %q", got, fw.Body.String())
	}
	// httptest.ResponseRecorder is a Flusher and nothing else.
	var got string
	NewLimiter("recorder", 1).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = capabilities(w)
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got != "Flusher" {
		t.Errorf("around an httptest.ResponseRecorder: %q, want Flusher only", got)
	}
}

// Every composition claims exactly the interfaces of its mask.
func TestWriterCompositions(t *testing.T) {
	for mask, build := range compositions {
		w := build(&statusRecorder{ResponseWriter: httptest.NewRecorder()})
		var want []string
		for bit, name := range []string{"Flusher", "Hijacker", "ReaderFrom", "Pusher", "CloseNotifier"} {
			if mask&(1<<bit) != 0 {
				want = append(want, name)
			}
		}
		if got := capabilities(w); got != strings.Join(want, ",") {
			t.Errorf("composition %05b: %q, want %q", mask, got, strings.Join(want, ","))
		}
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() == nil {
			t.Errorf("composition %05b: no Unwrap", mask)
		}
	}
}
