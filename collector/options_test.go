package collector

import (
	"reflect"
	"testing"
	"time"
)

// TestOptionsCompileOnlyWhereTheyApply checks what the compiler checks when an option is
// passed to a constructor: its static type must implement that constructor's option
// interface. An option that does not apply (WithMaxWait on NewPool, WithPanicHandler on
// NewLimiter or NewTracker) therefore does not compile, instead of being silently ignored.
func TestOptionsCompileOnlyWhereTheyApply(t *testing.T) {
	pool := reflect.TypeFor[PoolOption]()
	tracker := reflect.TypeFor[TrackerOption]()
	limiter := reflect.TypeFor[LimiterOption]()
	for _, c := range []struct {
		name                   string
		typ                    reflect.Type // the static type the option function returns
		pool, tracker, limiter bool
	}{
		{"WithQueueSize", reflect.TypeOf(WithQueueSize), true, true, true},
		{"WithClock", reflect.TypeOf(WithClock), true, true, true},
		{"WithNativeHistograms", reflect.TypeOf(WithNativeHistograms), true, true, true},
		{"WithPanicHandler", reflect.TypeOf(WithPanicHandler), true, false, false},
		{"WithMaxWait", reflect.TypeOf(WithMaxWait), false, false, true},
		{"WithRetryAfter", reflect.TypeOf(WithRetryAfter), false, false, true},
	} {
		out := c.typ.Out(0)
		for _, k := range []struct {
			kind  string
			iface reflect.Type
			want  bool
		}{{"NewPool", pool, c.pool}, {"NewTracker", tracker, c.tracker}, {"NewLimiter", limiter, c.limiter}} {
			if got := out.Implements(k.iface); got != k.want {
				t.Errorf("%s (%v) accepted by %s: %v, want %v", c.name, out, k.kind, got, k.want)
			}
		}
	}
}

// The options reach the constructor they are given to.
func TestOptionsApply(t *testing.T) {
	l := NewLimiter("l", 1, WithQueueSize(3), WithMaxWait(1500*time.Millisecond))
	if l.maxQueued != 3 || l.maxWait != 1500*time.Millisecond || l.retryAfter != "2" {
		t.Errorf("limiter: queue %d, max wait %v, retry after %q", l.maxQueued, l.maxWait, l.retryAfter)
	}
	called := false
	p := NewPool("p", 1, WithQueueSize(0), WithPanicHandler(func(any) { called = true }))
	t.Cleanup(func() { shutdown(t, p) })
	p.onPanic(nil)
	if p.maxQueued != 0 || !called {
		t.Errorf("pool: queue %d, panic handler set %v", p.maxQueued, called)
	}
	if tr := NewTracker("t", 1, WithQueueSize(-5), nil); tr.maxQueued != -1 {
		t.Errorf("tracker: queue %d, want -1 (unbounded)", tr.maxQueued)
	}
}
