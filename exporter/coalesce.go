package exporter

import (
	"context"
	"sync"
	"time"
)

// readGroup coalesces concurrent reads of one target: a scrape that arrives while a read of
// the same key is in flight waits for that read and shares its result, so that Prometheus HA
// pairs, several scrapers and retries cost the target one read, never one per scrape. A small
// stats pool (CherryPy's 2 threads) is then never exhausted by the exporter meant to watch it.
//
// The shared read does not run under any one scrape's context, so that a scrape that gives
// up (its own, shorter timeout) does not fail the read for the others. It is bounded all the
// same: by limit (the module's timeout, the longest any scrape may wait), and it is canceled
// as soon as no scrape waits for it any more. Results are not kept after the read: the next
// scrape reads afresh, as the metric contract wants values read at scrape time.
type readGroup struct {
	mu    sync.Mutex
	reads map[string]*sharedRead
}

type sharedRead struct {
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int
	// Set before done is closed, read-only after.
	pools []Pool
	err   error
}

// do returns the result of read for key: its own call, or the one in flight. ctx bounds the
// wait of this caller only. The pools returned may be shared: callers must not modify them.
func (g *readGroup) do(ctx context.Context, key string, limit time.Duration, read func(context.Context) ([]Pool, error)) ([]Pool, error) {
	g.mu.Lock()
	if g.reads == nil {
		g.reads = make(map[string]*sharedRead)
	}
	r, ok := g.reads[key]
	if !ok {
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
		r = &sharedRead{done: make(chan struct{}), cancel: cancel}
		g.reads[key] = r
		go func() {
			pools, err := read(readCtx)
			cancel()
			g.mu.Lock()
			r.pools, r.err = pools, err
			g.forget(key, r)
			g.mu.Unlock()
			close(r.done)
		}()
	}
	r.waiters++
	g.mu.Unlock()

	select {
	case <-r.done:
		return r.pools, r.err
	case <-ctx.Done():
		g.mu.Lock()
		r.waiters--
		if r.waiters == 0 {
			// Nobody wants the answer any more: stop loading the target for it. A scrape
			// arriving now starts a read of its own rather than join a canceled one.
			r.cancel()
			g.forget(key, r)
		}
		g.mu.Unlock()
		return nil, context.Cause(ctx)
	}
}

// forget removes r from the reads in flight unless a newer read took its key. g.mu is held.
func (g *readGroup) forget(key string, r *sharedRead) {
	if g.reads[key] == r {
		delete(g.reads, key)
	}
}
