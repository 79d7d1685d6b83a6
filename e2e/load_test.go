package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ratePoint is one corner of a piecewise-linear arrival-rate profile.
type ratePoint struct {
	at        time.Duration // since the load started
	perSecond float64       // requests started per second at that moment
}

// rampLoad describes an open-loop load: requests start on a schedule set by the profile,
// whether or not earlier ones have finished, the way independent users arrive. That is what
// exhausts a thread pool: a closed loop of N clients could never queue more than N requests.
type rampLoad struct {
	url         string
	timeout     time.Duration // each request's own deadline, like a user's patience
	profile     []ratePoint   // rate between corners is interpolated; after the last, it holds
	maxRequests int           // bound on the total count
	maxInFlight int           // bound on concurrency; arrivals beyond it are skipped and counted
	maxDuration time.Duration // bound on the total time
}

// rateAt returns the arrival rate elapsed after the start.
func (l *rampLoad) rateAt(elapsed time.Duration) float64 {
	p := l.profile
	if len(p) == 0 {
		return 0
	}
	if elapsed <= p[0].at {
		return p[0].perSecond
	}
	for i := 1; i < len(p); i++ {
		if elapsed <= p[i].at {
			frac := float64(elapsed-p[i-1].at) / float64(p[i].at-p[i-1].at)
			return p[i-1].perSecond + frac*(p[i].perSecond-p[i-1].perSecond)
		}
	}
	return p[len(p)-1].perSecond
}

// loadStats counts what the load did so far.
type loadStats struct {
	Sent, InFlight, OK, TimedOut, Failed, Skipped int
	Rate                                          float64       // current arrival rate
	LastOKLatency                                 time.Duration // of the latest successful request
}

// String formats the counts for a progress line.
func (s loadStats) String() string {
	return fmt.Sprintf("rate %.1f/s sent %d in-flight %d ok %d (last %.1fs) timed-out %d failed %d skipped %d",
		s.Rate, s.Sent, s.InFlight, s.OK, s.LastOKLatency.Seconds(), s.TimedOut, s.Failed, s.Skipped)
}

// loadFailure is the first request a user would have seen fail.
type loadFailure struct {
	At      time.Time // when the client gave up or got the error
	Timeout bool      // the request outlived its timeout (as opposed to another error)
	Err     string
}

// loadRun is a running load. Stop ends it and waits for every request goroutine.
type loadRun struct {
	load   *rampLoad
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{} // closed when the generator and all requests have ended
	failed chan struct{} // closed at the first failed request

	mu           sync.Mutex
	stats        loadStats
	firstFailure *loadFailure
}

// start begins sending the load and returns at once.
func (l *rampLoad) start(ctx context.Context) *loadRun {
	ctx, cancel := context.WithCancel(ctx)
	r := &loadRun{load: l, start: time.Now(), cancel: cancel,
		done: make(chan struct{}), failed: make(chan struct{})}
	go r.generate(ctx)
	return r
}

// Stop cancels the requests still running (they count neither as success nor failure) and
// waits until every goroutine of the load has returned.
func (r *loadRun) Stop() {
	r.cancel()
	<-r.done
}

// Stats returns a snapshot of the counts.
func (r *loadRun) Stats() loadStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.Rate = r.load.rateAt(time.Since(r.start))
	return s
}

// FirstFailure returns the first failed request, if any.
func (r *loadRun) FirstFailure() (loadFailure, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstFailure == nil {
		return loadFailure{}, false
	}
	return *r.firstFailure, true
}

func (r *loadRun) generate(ctx context.Context) {
	defer close(r.done)
	// No keep-alive: each request is a new connection, as from many distinct users. An idle
	// kept-alive connection would itself occupy a cheroot worker while it waits for the next
	// request, which would measure the client's connection pool rather than the load.
	transport := &http.Transport{DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: r.load.timeout, Transport: transport}

	var requests sync.WaitGroup
	defer requests.Wait()
	slots := make(chan struct{}, r.load.maxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := r.start
	for sent := 0; sent < r.load.maxRequests; {
		elapsed := next.Sub(r.start)
		if elapsed >= r.load.maxDuration {
			return
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		rate := r.load.rateAt(elapsed)
		if rate <= 0 {
			next = next.Add(100 * time.Millisecond)
			continue
		}
		next = next.Add(time.Duration(float64(time.Second) / rate))
		select {
		case slots <- struct{}{}:
		default:
			r.mu.Lock()
			r.stats.Skipped++
			r.mu.Unlock()
			continue
		}
		sent++
		r.mu.Lock()
		r.stats.Sent++
		r.stats.InFlight++
		r.mu.Unlock()
		requests.Add(1)
		go func() {
			defer requests.Done()
			defer func() { <-slots }()
			took, err := r.send(ctx, client)
			r.record(ctx, took, err)
		}()
	}
}

// send makes one request and returns how long it took and why it failed, if it did.
func (r *loadRun) send(ctx context.Context, client *http.Client) (time.Duration, error) {
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.load.url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return time.Since(began), err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return time.Since(began), err
	}
	if resp.StatusCode != http.StatusOK {
		return time.Since(began), fmt.Errorf("status %s", resp.Status)
	}
	return time.Since(began), nil
}

func (r *loadRun) record(ctx context.Context, took time.Duration, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.InFlight--
	switch {
	case err == nil:
		r.stats.OK++
		r.stats.LastOKLatency = took
		return
	case ctx.Err() != nil:
		// Cut short by Stop: the user did not see this one fail.
		return
	}
	var netErr net.Error
	timeout := errors.As(err, &netErr) && netErr.Timeout()
	if timeout {
		r.stats.TimedOut++
	} else {
		r.stats.Failed++
	}
	if r.firstFailure == nil {
		r.firstFailure = &loadFailure{At: now, Timeout: timeout, Err: err.Error()}
		close(r.failed)
	}
}
