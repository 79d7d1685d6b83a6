package collector

import (
	"net/http"
	"time"

	"github.com/poolwatch/poolwatch/internal/route"
)

// Each constructor takes its own kind of option, in the style of grpc-go's DialOption and
// ServerOption: an option that means nothing to a constructor does not compile there, instead
// of being accepted and ignored. Options that describe a pool's shape (its queue, its clock,
// its histograms) are of type Option and fit all three constructors.
type (
	// PoolOption configures NewPool: an Option, or WithPanicHandler.
	PoolOption interface{ applyPool(*poolConfig) }
	// TrackerOption configures NewTracker: an Option.
	TrackerOption interface{ applyTracker(*trackerConfig) }
	// LimiterOption configures NewLimiter: an Option, WithMaxWait or WithRetryAfter.
	LimiterOption interface{ applyLimiter(*limiterConfig) }
)

// Option is an option that applies to a Pool, a Tracker and a Limiter alike. Its zero value
// (a variable never set, Option{}) changes nothing, as a nil option does.
type Option struct{ apply func(*trackerConfig) }

func (o Option) applyPool(c *poolConfig)       { o.applyTracker(&c.trackerConfig) }
func (o Option) applyLimiter(c *limiterConfig) { o.applyTracker(&c.trackerConfig) }
func (o Option) applyTracker(c *trackerConfig) {
	if o.apply != nil {
		o.apply(c)
	}
}

type poolOption func(*poolConfig)

func (o poolOption) applyPool(c *poolConfig) {
	if o != nil {
		o(c)
	}
}

type limiterOption func(*limiterConfig)

func (o limiterOption) applyLimiter(c *limiterConfig) {
	if o != nil {
		o(c)
	}
}

// trackerConfig is what every kind shares. An unbounded queue is queueSize < 0.
type trackerConfig struct {
	queueSize    int
	clock        func() time.Time
	nativeFactor float64
	maxRoutes    int
}

type poolConfig struct {
	trackerConfig
	panicHandler func(any)
}

type limiterConfig struct {
	trackerConfig
	maxWait    time.Duration
	retryAfter time.Duration
	route      func(*http.Request) string
}

// defaultTrackerConfig is what every constructor starts from before its options: an
// unbounded queue and route.DefaultMax routes.
func defaultTrackerConfig() trackerConfig {
	return trackerConfig{queueSize: -1, maxRoutes: route.DefaultMax}
}

func newTrackerConfig(opts []TrackerOption) trackerConfig {
	c := defaultTrackerConfig()
	for _, o := range opts {
		if o != nil {
			o.applyTracker(&c)
		}
	}
	return c
}

func newPoolConfig(opts []PoolOption) poolConfig {
	c := poolConfig{trackerConfig: defaultTrackerConfig()}
	for _, o := range opts {
		if o != nil {
			o.applyPool(&c)
		}
	}
	return c
}

func newLimiterConfig(opts []LimiterOption) limiterConfig {
	c := limiterConfig{trackerConfig: defaultTrackerConfig()}
	for _, o := range opts {
		if o != nil {
			o.applyLimiter(&c)
		}
	}
	return c
}

// WithQueueSize bounds the queue to n tasks waiting for a worker. n == 0 means no queue at all
// (a task is accepted only when a worker is free); n < 0 means unbounded, the default.
// For a Tracker, it only sets the capacity exposed as workerpool_max_queued_tasks: the
// tracked pool enforces its own queue.
func WithQueueSize(n int) Option {
	return Option{func(c *trackerConfig) { c.queueSize = max(n, -1) }}
}

// WithClock replaces time.Now as the source of time, so that tests can move time by hand.
// The clock must never go backwards: readings earlier than one already used by a scrape are
// treated as equal to it, which keeps the busy and saturated counters monotonic.
func WithClock(now func() time.Time) Option {
	return Option{func(c *trackerConfig) { c.clock = now }}
}

// WithNativeHistograms makes the wait and duration histograms native histograms as well as
// classic ones (the classic buckets stay, so that rules written against them keep working),
// with the given bucket growth factor (1.1 is a common choice; values <= 1 are ignored), at
// most 160 buckets: when more would be needed the resolution is lowered instead, never reset,
// because a reset would zero the classic buckets, the count and the sum with it and make
// counters go backwards.
// Prometheus keeps them only when scraping with native histograms enabled.
func WithNativeHistograms(factor float64) Option {
	return Option{func(c *trackerConfig) { c.nativeFactor = factor }}
}

// WithPanicHandler is called (on the worker goroutine) with the value of every task panic that
// a Pool recovers. Panics are always counted as outcome "panic" and never kill the worker;
// without a handler they are otherwise dropped.
func WithPanicHandler(h func(any)) PoolOption {
	return poolOption(func(c *poolConfig) { c.panicHandler = h })
}

// WithMaxWait limits how long a request may wait in a Limiter's queue before it is answered
// 503 and counted rejected "timeout". 0 (the default) waits as long as the client does.
func WithMaxWait(d time.Duration) LimiterOption {
	return limiterOption(func(c *limiterConfig) { c.maxWait = d })
}

// WithRetryAfter sets the Retry-After header of a Limiter's 503 answers, rounded up to whole
// seconds (at least 1). The default is the max wait, or 1 second without one.
func WithRetryAfter(d time.Duration) LimiterOption {
	return limiterOption(func(c *limiterConfig) { c.retryAfter = d })
}

// WithMaxRoutes sets how many routes (a Limiter's patterns, the kinds of a Pool's or
// Tracker's tasks) the route series expose at each scrape: the n holding the most workers,
// the others summed into route "other". The default is 20; n < 0 counts as 0.
func WithMaxRoutes(n int) Option {
	return Option{func(c *trackerConfig) { c.maxRoutes = max(n, 0) }}
}

// WithRoute names the route of each request a Limiter serves, for the route series, instead
// of the pattern http.ServeMux matched (r.Pattern, the default, which is empty when the
// Limiter wraps the mux rather than the handlers registered in it). Return "" for a request
// of no route. Route names must be few: a pattern, never a raw path (see PathRoute, MuxRoute).
// f runs on every request, before the request waits for a slot.
func WithRoute(f func(r *http.Request) string) LimiterOption {
	return limiterOption(func(c *limiterConfig) { c.route = f })
}
