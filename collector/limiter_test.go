package collector

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// gate is a handler that holds each request until released, or answers at once with the
// status named by the request's ?status=.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 100), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Query().Get("do") {
	case "fail":
		http.Error(w, "failed", http.StatusInternalServerError)
		return
	case "panic":
		panic(http.ErrAbortHandler)
	case "hold":
		g.entered <- struct{}{}
		<-g.release
	}
	_, _ = io.WriteString(w, "ok")
}

func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func get(ctx context.Context, url string) (int, http.Header, error) {
	return do(ctx, http.MethodGet, url)
}

func do(ctx context.Context, method, url string) (int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, nil
}

func TestLimiterQueueFullTimeoutAndCanceled(t *testing.T) {
	// The max wait is long enough for the test to see both requests queued on a busy machine.
	l := NewLimiter("http", 1, WithQueueSize(2), WithMaxWait(time.Second), WithRetryAfter(3*time.Second))
	g := newGate()
	srv := startServer(t, l.Wrap(g))
	defer http.DefaultClient.CloseIdleConnections()
	ctx := context.Background()

	held := make(chan int, 1)
	go func() {
		code, _, _ := get(ctx, srv.URL+"?do=hold")
		held <- code
	}()
	<-g.entered
	// Two requests queue behind it and time out after 1 s; a third finds the queue full.
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 2 {
		wg.Go(func() {
			code, h, err := get(ctx, srv.URL)
			if err != nil {
				t.Error(err)
			}
			if h.Get("Retry-After") != "3" {
				t.Errorf("Retry-After = %q, want 3", h.Get("Retry-After"))
			}
			codes <- code
		})
	}
	waitFor(t, "two queued requests", func() bool { return gather(t, l).value(t, contract.QueuedTasks) == 2 })
	code, h, err := get(ctx, srv.URL)
	if err != nil || code != http.StatusServiceUnavailable || h.Get("Retry-After") != "3" {
		t.Errorf("queue full: %d %v Retry-After=%q, want 503 with Retry-After 3", code, err, h.Get("Retry-After"))
	}
	wg.Wait()
	for range 2 {
		if code := <-codes; code != http.StatusServiceUnavailable {
			t.Errorf("timed-out request answered %d, want 503", code)
		}
	}
	// A client that gives up while queued is counted canceled.
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		waitFor(t, "a queued request", func() bool { return gather(t, l).value(t, contract.QueuedTasks) == 1 })
		cancel()
	}()
	if _, _, err := get(cctx, srv.URL); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled client: %v", err)
	}
	waitFor(t, "the canceled request to leave the queue", func() bool {
		return gather(t, l).value(t, contract.TasksRejectedTotal, contract.ReasonCanceled) == 1
	})
	s := gather(t, l)
	checkInvariants(t, s, nil, true)
	if got := s.value(t, contract.OldestRunningAgeSecs); got < 1 {
		t.Errorf("the held request has run %v s, want more than the 1 s the others waited", got)
	}
	if got := s.value(t, contract.SaturatedSecondsTotal); got < 1 {
		t.Errorf("saturated %v s while the only slot was held, want more than 1 s", got)
	}
	close(g.release)
	if code := <-held; code != http.StatusOK {
		t.Errorf("held request answered %d", code)
	}
	s = gather(t, l)
	checkInvariants(t, s, nil, true)
	for reason, want := range map[string]float64{
		contract.ReasonQueueFull: 1, contract.ReasonTimeout: 2, contract.ReasonCanceled: 1, contract.ReasonClosed: 0,
	} {
		if got := s.value(t, contract.TasksRejectedTotal, reason); got != want {
			t.Errorf("rejected{%s} = %v, want %v", reason, got, want)
		}
	}
}

func TestLimiterOutcomes(t *testing.T) {
	l := NewLimiter("outcomes", 2)
	srv := startServer(t, l.Wrap(newGate()))
	defer http.DefaultClient.CloseIdleConnections()
	// POST: net/http's client would retry a GET whose connection the panic aborted.
	for _, what := range []string{"", "fail", "panic"} {
		_, _, _ = do(context.Background(), http.MethodPost, srv.URL+"?do="+what)
	}
	s := gather(t, l)
	checkInvariants(t, s, nil, true)
	for _, o := range contract.Outcomes {
		if got := s.value(t, contract.TasksCompletedTotal, o); got != 1 {
			t.Errorf("completed{%s} = %v, want 1", o, got)
		}
	}
}

// TestLimiterInvariantsUnderLoad: many clients against few slots, scraped all along. Each
// request is served by the handler directly (no sockets), which keeps the load heavy.
func TestLimiterInvariantsUnderLoad(t *testing.T) {
	begin := time.Now()
	l := NewLimiter("stress", 3, WithQueueSize(5), WithMaxWait(2*time.Millisecond))
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Microsecond)
		if r.URL.Query().Has("fail") {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	var clients sync.WaitGroup
	for c := range 24 {
		clients.Go(func() {
			for i := range 100 {
				url := "/"
				if i%7 == 0 {
					url = "/?fail"
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c%4+1)*time.Millisecond)
				req := httptest.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				h.ServeHTTP(httptest.NewRecorder(), req)
				cancel()
			}
		})
	}
	prev, _ := scrapeWhile(t, l, &clients, func(s scrape) { checkWithinElapsed(t, s, time.Since(begin).Seconds()) })
	s := gather(t, l)
	checkInvariants(t, s, prev, true)
	if got := s.value(t, contract.TasksSubmittedTotal); got != 2400 {
		t.Errorf("submitted = %v, want 2400", got)
	}
	if s.value(t, contract.TasksRejectedTotal, contract.ReasonQueueFull) == 0 || s.value(t, contract.TasksCompletedTotal, contract.OutcomeError) == 0 {
		t.Error("the load produced no queue_full rejection or no error outcome")
	}
}

// TestLimiterOutcomeIgnoresInformationalStatus: a handler that sends 103 Early Hints and then
// fails with 500 counts as an error, not as the success its first (informational) status
// would suggest.
func TestLimiterOutcomeIgnoresInformationalStatus(t *testing.T) {
	l := NewLimiter("hints", 1)
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	s := gather(t, l)
	if got := s.value(t, contract.TasksCompletedTotal, contract.OutcomeError); got != 1 {
		t.Errorf("completed{error} = %v after 103 then 500, want 1", got)
	}
	if got := s.value(t, contract.TasksCompletedTotal, contract.OutcomeSuccess); got != 0 {
		t.Errorf("completed{success} = %v after 103 then 500, want 0", got)
	}
}

// TestLimiterKeepsHijacker: a handler that type-asserts http.Hijacker, as websocket libraries
// do, still gets the connection through the Limiter.
func TestLimiterKeepsHijacker(t *testing.T) {
	l := NewLimiter("hijack", 1)
	srv := startServer(t, l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "no http.Hijacker behind the Limiter", http.StatusInternalServerError)
			return
		}
		conn, buf, err := hj.Hijack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		buf.Flush()
	})))
	resp, err := http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hijacked" {
		t.Fatalf("got %d %q, want 200 \"hijacked\"", resp.StatusCode, body)
	}
}
