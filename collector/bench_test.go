package collector

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
)

// Every pool benchmark runs the same workload: b.N tiny CPU tasks submitted from one goroutine
// through benchWorkers workers and a queue of benchQueue (the submitter blocks when it is
// full, so the backlog, and the memory it holds, stays the same whatever b.N is), timed until
// the last one has finished. ns/op is the cost of one task end to end, so the difference
// between an instrumented pool and the same pool without instrumentation is the
// instrumentation's cost per task. ants has no queue: its Submit blocks until a worker is free.
const (
	benchWorkers = 4
	benchQueue   = 1024
)

var (
	sink      uint64
	clockSink time.Duration
)

// spin is the task's work: a few dozen nanoseconds of arithmetic, no allocation. seed is
// what a task closure would carry (pond's tasks are closures over their data).
func spin(seed uint64) {
	x := seed
	for i := range 64 {
		x = x*6364136223846793005 + uint64(i)
	}
	sink += x & 1 // racy by design across workers; only keeps the loop from being elided
}

// The pool rows, each quiet and oversubscribed: in the oversubscribed variant the benchmark
// first starts one CPU-bound goroutine per core (GOMAXPROCS of them), which compete with the
// submitter and the workers for the CPU until the benchmark ends, as on a busy server. A
// goroutine preempted while it holds a lock makes everyone who needs that lock wait: the gap
// between the quiet and the oversubscribed figure is what contention costs.
var poolRows = []struct {
	name string
	run  func(b *testing.B)
}{
	{"bare", benchBare},
	{"collector.Pool", benchCollectorPool},
	{"pond", benchPondAlone},
	{"pond+Tracker", benchPondTracked},
	{"ants", benchAnts},
}

func BenchmarkPool(b *testing.B) {
	for _, row := range poolRows {
		b.Run(row.name, row.run)
	}
}

func BenchmarkPoolOversubscribed(b *testing.B) {
	for _, row := range poolRows {
		b.Run(row.name, func(b *testing.B) {
			stop := oversubscribe()
			defer stop()
			row.run(b)
		})
	}
}

// oversubscribe starts one CPU-bound goroutine per core and returns the function that stops
// them and waits until they have.
func oversubscribe() (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for g := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			x := uint64(g)
			for !done.Load() {
				for i := range 1024 {
					x = x*6364136223846793005 + uint64(i)
				}
			}
			busySink.Add(x & 1)
		})
	}
	return func() {
		done.Store(true)
		wg.Wait()
	}
}

var busySink atomic.Uint64

func benchBare(b *testing.B) {
	p := newBarePool(benchWorkers, benchQueue)
	defer p.stop()
	var wg sync.WaitGroup
	task := func() { spin(1); wg.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for range b.N {
		p.submit(task)
	}
	wg.Wait()
}

func benchCollectorPool(b *testing.B) {
	p := NewPool("bench", benchWorkers, WithQueueSize(benchQueue))
	defer func() { _ = p.Shutdown(context.Background()) }()
	var wg sync.WaitGroup
	task := func(context.Context) error { spin(1); wg.Done(); return nil }
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for range b.N {
		_ = p.Submit(ctx, task)
	}
	wg.Wait()
}

// pond's Go takes a func(); each task is a closure, as it is in real use, in both pond
// benchmarks, so that they differ only by the tracker's calls.
func benchPondAlone(b *testing.B) {
	p := pond.NewPool(benchWorkers, pond.WithQueueSize(benchQueue))
	defer p.StopAndWait()
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for i := range b.N {
		_ = p.Go(func() { spin(uint64(i)); wg.Done() })
	}
	wg.Wait()
}

func benchPondTracked(b *testing.B) {
	p := pond.NewPool(benchWorkers, pond.WithQueueSize(benchQueue))
	defer p.StopAndWait()
	tr := NewTracker("pond", benchWorkers, WithQueueSize(benchQueue))
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for i := range b.N {
		k := tr.Submit()
		_ = p.Go(func() {
			k.Start()
			spin(uint64(i))
			k.Finish(OutcomeSuccess)
			wg.Done()
		})
	}
	wg.Wait()
}

func benchAnts(b *testing.B) {
	p, err := ants.NewPool(benchWorkers, ants.WithDisablePurge(true))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.ReleaseTimeout(5 * time.Second) }()
	var wg sync.WaitGroup
	task := func() { spin(1); wg.Done() }
	b.ReportAllocs()
	b.ResetTimer()
	wg.Add(b.N)
	for range b.N {
		_ = p.Submit(task)
	}
	wg.Wait()
}

// BenchmarkTrackerTask is the tracker's own hot path, alone: Submit, Start and Finish of one
// task from one goroutine. It must report 0 allocs/op. Three clock reads are its floor.
func BenchmarkTrackerTask(b *testing.B) {
	tr := NewTracker("bench", benchWorkers)
	b.ReportAllocs()
	for b.Loop() {
		k := tr.Submit()
		k.Start()
		k.Finish(OutcomeSuccess)
	}
}

// BenchmarkTrackerTaskParallel is the same from every core at once.
func BenchmarkTrackerTaskParallel(b *testing.B) {
	tr := NewTracker("bench", benchWorkers)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := tr.Submit()
			k.Start()
			k.Finish(OutcomeSuccess)
		}
	})
}

// handWritten is what a user writes by hand with client_golang for the same task: two gauges
// (queued, busy), two counters (submitted, completed), two histograms (wait, duration) and
// three clock reads. It has no oldest ages, no busy or saturated seconds, no consistency
// between series, and no rejections; it is the baseline the Tracker is compared with.
type handWritten struct {
	queued, busy        prometheus.Gauge
	submitted, complete prometheus.Counter
	wait, duration      prometheus.Histogram
}

func newHandWritten() *handWritten {
	return &handWritten{
		queued:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "queued"}),
		busy:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "busy"}),
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "submitted_total"}),
		complete:  prometheus.NewCounter(prometheus.CounterOpts{Name: "completed_total"}),
		wait:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "wait_seconds", Buckets: contract.Buckets}),
		duration:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "duration_seconds", Buckets: contract.Buckets}),
	}
}

func (h *handWritten) task() {
	submitted := time.Now()
	h.submitted.Inc()
	h.queued.Inc()
	started := time.Now()
	h.queued.Dec()
	h.busy.Inc()
	h.wait.Observe(started.Sub(submitted).Seconds())
	h.busy.Dec()
	h.complete.Inc()
	h.duration.Observe(time.Since(started).Seconds())
}

func BenchmarkHandWrittenTask(b *testing.B) {
	h := newHandWritten()
	b.ReportAllocs()
	for b.Loop() {
		h.task()
	}
}

func BenchmarkHandWrittenTaskParallel(b *testing.B) {
	h := newHandWritten()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.task()
		}
	})
}

// BenchmarkClockRead is the price of one reading of the monotonic clock, which the tracker
// takes at submit, start and finish (a Pool: at submit, and once per finish-and-start). On
// virtual machines whose clock source is slow to read it dominates the instrumentation's cost.
func BenchmarkClockRead(b *testing.B) {
	epoch := time.Now()
	var d time.Duration
	for b.Loop() {
		d += time.Since(epoch)
	}
	clockSink = d
}

// BenchmarkClockReadOversubscribed is the same with one CPU-bound goroutine per core
// competing, as in the oversubscribed pool rows: the floor of the instrumentation under load.
func BenchmarkClockReadOversubscribed(b *testing.B) {
	stop := oversubscribe()
	defer stop()
	BenchmarkClockRead(b)
}

// BenchmarkCollect100Pools is one scrape of a registry holding 100 pools, each with tasks
// queued and running, so that every series and both age scans have work to do.
func BenchmarkCollect100Pools(b *testing.B) {
	reg := prometheus.NewRegistry()
	for i := range 100 {
		tr := NewTracker(fmt.Sprintf("pool-%03d", i), 8, WithQueueSize(64))
		for range 100 {
			k := tr.Submit()
			k.Start()
			k.Finish(OutcomeSuccess)
		}
		for j := range 12 {
			k := tr.Submit()
			if j < 8 {
				k.Start()
			}
		}
		reg.MustRegister(tr)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// barePool is collector.Pool without instrumentation: the same idle-worker handoff, the same
// linked queue and node recycling under one mutex, the same wake channels. It is the baseline
// the instrumentation's cost is measured against.
type barePool struct {
	mu                sync.Mutex
	head, tail        *bareTask
	spare             *bareTask
	idle              []*bareWorker
	queued, maxQueued int
	room              chan struct{}
	closed            bool
	wg                sync.WaitGroup
}

type bareTask struct {
	fn   func()
	next *bareTask
}

type bareWorker struct{ wake chan *bareTask }

func newBarePool(workers, queue int) *barePool {
	p := &barePool{maxQueued: queue}
	for range workers {
		w := &bareWorker{wake: make(chan *bareTask, 1)}
		p.idle = append(p.idle, w)
		p.wg.Go(func() { p.work(w) })
	}
	return p
}

func (p *barePool) submit(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) == 0 && p.queued >= p.maxQueued {
		if p.room == nil {
			p.room = make(chan struct{})
		}
		room := p.room
		p.mu.Unlock()
		<-room
		p.mu.Lock()
	}
	t := p.spare
	if t != nil {
		p.spare = t.next
		t.next = nil
	} else {
		t = &bareTask{}
	}
	t.fn = fn
	if k := len(p.idle); k > 0 {
		w := p.idle[k-1]
		p.idle = p.idle[:k-1]
		w.wake <- t
		return
	}
	if p.tail != nil {
		p.tail.next = t
	} else {
		p.head = t
	}
	p.tail = t
	p.queued++
}

func (p *barePool) work(w *bareWorker) {
	for t := range w.wake {
		for t != nil {
			t.fn()
			t = p.next(w, t)
		}
	}
}

func (p *barePool) next(w *bareWorker, done *bareTask) *bareTask {
	p.mu.Lock()
	defer p.mu.Unlock()
	done.fn = nil
	done.next = p.spare
	p.spare = done
	t := p.head
	if t == nil {
		if p.closed {
			close(w.wake)
		} else {
			p.idle = append(p.idle, w)
		}
		return nil
	}
	p.head = t.next
	if p.head == nil {
		p.tail = nil
	}
	t.next = nil
	p.queued--
	if p.room != nil {
		close(p.room)
		p.room = nil
	}
	return t
}

func (p *barePool) stop() {
	p.mu.Lock()
	p.closed = true
	for _, w := range p.idle {
		close(w.wake)
	}
	p.idle = nil
	p.mu.Unlock()
	p.wg.Wait()
}
