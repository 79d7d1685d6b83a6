package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poolwatch/poolwatch/collector"
)

// The load generator is open loop (arrivals follow the profile, whatever the pools do) and
// bounded: a fixed number of client goroutines, a fixed buffer of pending arrivals (an
// arrival that finds it full is dropped and counted), a bounded rate, and loopback only.
const (
	jobClients   = 16
	httpClients  = 24
	pendingLimit = 256
	tick         = 20 * time.Millisecond
	// jobDeadline is how long a job may wait (in Submit and then in the queue) before it is
	// given up and counted rejected "timeout".
	jobDeadline = time.Second
	// peakLoad is the highest load, as a multiple of capacity.
	peakLoad = 1.5
	calmLoad = 0.3
)

// loadFactor is the offered load, as a fraction of capacity, at a point of the cycle: calm,
// a ramp to past capacity, a stretch of overload, then calm again while the pools recover.
func loadFactor(elapsed, cycle time.Duration) float64 {
	phase := float64(elapsed%cycle) / float64(cycle)
	switch {
	case phase < 0.1:
		return calmLoad
	case phase < 0.6:
		return calmLoad + (peakLoad-calmLoad)*(phase-0.1)/0.5
	case phase < 0.75:
		return peakLoad
	default:
		return calmLoad
	}
}

type generator struct {
	cfg    Config
	jobs   *collector.Pool
	url    string
	client *http.Client
	logger *slog.Logger
	start  time.Time

	dropped atomic.Int64 // arrivals dropped because the clients were all stuck
}

// factor is the load right now, for the status line.
func (g *generator) factor() float64 { return loadFactor(time.Since(g.start), g.cfg.Cycle) }

func (g *generator) run(ctx context.Context) {
	jobArrivals := make(chan time.Duration, pendingLimit)
	httpArrivals := make(chan time.Duration, pendingLimit)
	var clients sync.WaitGroup
	for range jobClients {
		clients.Go(func() { g.jobClient(ctx, jobArrivals) })
	}
	for range httpClients {
		clients.Go(func() { g.httpClient(ctx, httpArrivals) })
	}
	defer clients.Wait()

	// Arrival rates at capacity: workers / mean service time.
	jobRate := float64(g.cfg.JobWorkers) / g.cfg.MeanTask.Seconds()
	httpRate := float64(g.cfg.HTTPWorkers) / g.cfg.MeanTask.Seconds()
	var jobDue, httpDue float64
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		f := g.factor() * tick.Seconds()
		jobDue += f * jobRate
		httpDue += f * httpRate
		for ; jobDue >= 1; jobDue-- {
			g.offer(jobArrivals, g.serviceTime())
		}
		for ; httpDue >= 1; httpDue-- {
			g.offer(httpArrivals, g.serviceTime())
		}
	}
}

func (g *generator) offer(ch chan<- time.Duration, d time.Duration) {
	select {
	case ch <- d:
	default:
		g.dropped.Add(1)
	}
}

// serviceTime draws a task's duration: exponential around the mean, capped at 10 means so
// that one draw cannot hold a worker for ever.
func (g *generator) serviceTime() time.Duration {
	d := time.Duration(rand.ExpFloat64() * float64(g.cfg.MeanTask))
	return min(d, 10*g.cfg.MeanTask, maxWork)
}

func (g *generator) jobClient(ctx context.Context, arrivals <-chan time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-arrivals:
			g.submitJob(ctx, d)
		}
	}
}

func (g *generator) submitJob(ctx context.Context, d time.Duration) {
	// The deadline covers the wait for room and the wait in the queue: it is the task's own
	// context, chosen explicitly, so the pool drops the task (counted "timeout") if it expires
	// before the task starts. Once started, the task is not bound by it; it cancels it when it
	// ends, to release its timer early.
	jobCtx, cancel := context.WithTimeout(ctx, jobDeadline)
	err := g.jobs.SubmitWithContext(jobCtx, jobCtx, func(context.Context) error {
		defer cancel()
		if !sleep(ctx, ctx, d) {
			return ctx.Err()
		}
		switch rand.IntN(100) {
		case 0:
			panic("simulated panic in a job")
		case 1, 2:
			return errors.New("simulated job failure")
		}
		return nil
	})
	if err != nil {
		cancel()
	}
}

func (g *generator) httpClient(ctx context.Context, arrivals <-chan time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-arrivals:
			g.request(ctx, d)
		}
	}
}

func (g *generator) request(ctx context.Context, d time.Duration) {
	url := fmt.Sprintf("%s?ms=%d", g.url, d.Milliseconds())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.logger.Debug("load request failed", "err", err)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
}
