package collector

import "time"

// Option configures a Pool, a Tracker or a Limiter. The three share one option type, in the
// style of pond, so that a pool's shape (its queue, its clock) is described the same way
// whichever of them runs it; an option that does not apply to a kind is ignored by it.
type Option func(*config)

// config is what the options fill in. unbounded queues are marked by queueSize < 0.
type config struct {
	queueSize    int
	clock        func() time.Time
	panicHandler func(any)
	maxWait      time.Duration
	retryAfter   time.Duration
	nativeFactor float64
}

func newConfig(opts []Option) config {
	c := config{queueSize: -1}
	for _, opt := range opts {
		if opt != nil {
			opt(&c)
		}
	}
	return c
}

// WithQueueSize bounds the queue to n tasks waiting for a worker. n == 0 means no queue at all
// (a task is accepted only when a worker is free); n < 0 means unbounded, the default.
// For a Tracker, it only sets the capacity exposed as workerpool_max_queued_tasks: the
// tracked pool enforces its own queue.
func WithQueueSize(n int) Option {
	return func(c *config) {
		if n < 0 {
			n = -1
		}
		c.queueSize = n
	}
}

// WithClock replaces time.Now as the source of time, so that tests can move time by hand.
// The clock must never go backwards: readings earlier than one already seen are treated as
// equal to it, which keeps the busy and saturated counters monotonic.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}

// WithPanicHandler is called (on the worker goroutine) with the value of every task panic that
// a Pool recovers. Panics are always counted as outcome "panic" and never kill the worker;
// without a handler they are otherwise dropped. Pool only.
func WithPanicHandler(h func(any)) Option {
	return func(c *config) { c.panicHandler = h }
}

// WithMaxWait limits how long a request may wait in a Limiter's queue before it is answered
// 503 and counted rejected "timeout". 0 (the default) waits as long as the client does.
// Limiter only.
func WithMaxWait(d time.Duration) Option {
	return func(c *config) { c.maxWait = d }
}

// WithRetryAfter sets the Retry-After header of a Limiter's 503 answers, rounded up to whole
// seconds (at least 1). The default is the max wait, or 1 second without one. Limiter only.
func WithRetryAfter(d time.Duration) Option {
	return func(c *config) { c.retryAfter = d }
}

// WithNativeHistograms makes the wait and duration histograms native histograms as well as
// classic ones (the classic buckets stay, so that rules written against them keep working),
// with the given bucket growth factor (1.1 is a common choice; values <= 1 are ignored), at
// most 160 buckets: when more would be needed the resolution is lowered instead, never reset,
// because a reset would zero the classic buckets, the count and the sum with it and make
// counters go backwards.
// Prometheus keeps them only when scraping with native histograms enabled.
func WithNativeHistograms(factor float64) Option {
	return func(c *config) { c.nativeFactor = factor }
}
