// Package poolsim simulates a worker pool under load, task by task, and writes what
// Prometheus would have scraped from it as a `promtool test rules` file, so that the
// poolwatch alerts can be run against a pool's whole life in a second: when does the pool
// stall, and when does the first alert fire?
//
// The simulation is an exact discrete-event run of one pool: a number of workers (fixed, or
// resized at given minutes), a FIFO queue (bounded or not), arrivals from a Poisson process
// whose rate follows a curve, lognormal service times whose mean follows another, and tasks
// that hang for ever. Every series of the metric contract is sampled at the scrape interval,
// as the collector or the exporter would have exposed it; a source such as CherryPy exposes
// only its subset.
//
// A run is deterministic: the same scenario and seed give the same samples. Arrivals and
// service times come from one random stream and task outcomes from another, so changing the
// pool (its workers, their resizes or its queue) leaves the offered load exactly as it was:
// two runs that differ only in the pool's shape compare like with like.
package poolsim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// Sample is the pool's state at one scrape: what every contract series would have read.
type Sample struct {
	T float64 // seconds since the start

	// Workers is the pool's capacity at T. After a shrink Busy can exceed it for a while:
	// running tasks are never killed, they finish.
	Workers int

	Busy, Queued int
	// OldestQueued and OldestRunning are the ages (seconds) of the task waiting longest and
	// of the task running longest; 0 when there is none.
	OldestQueued, OldestRunning float64

	Submitted, Succeeded, Failed, Rejected int64
	// BusySeconds and SaturatedSeconds are the integrals of busy workers and of "every worker
	// busy" (busy >= the capacity of the moment) up to T, tasks still running included.
	BusySeconds, SaturatedSeconds float64
	// BusySecondsWholeStarts is BusySeconds as uWSGI's stats give it: the closed tasks' whole
	// time, and each running task's from its start truncated to a whole second, less one
	// second, never below 0 (exporter/uwsgi).
	BusySecondsWholeStarts float64

	// Wait and Duration are histograms: per-bucket counts (not cumulative) over
	// contract.Buckets, then +Inf, with the sum of the observations.
	Wait, Duration Histogram
}

// Histogram counts observations per bucket of contract.Buckets (the last slot is +Inf).
type Histogram struct {
	Counts [17]int64
	Sum    float64
}

func (h *Histogram) observe(v float64) {
	i, _ := slices.BinarySearch(contract.Buckets, v) // first bound >= v: le is inclusive
	h.Counts[i]++
	h.Sum += v
}

// Count is the number of observations.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Result is one run: the samples at every scrape from 0 to the horizon, and the stall.
type Result struct {
	Samples []Sample
	// Stall is when the first task had waited Timeout, or the first task was rejected,
	// whichever came first (seconds); NaN if the pool never stalled.
	Stall float64
	// Tasks is how many tasks arrived; Hung how many of them never end.
	Tasks, Hung int64
	// QueuedSeconds is the integral of the queue's length over the run, and Waited the sum of
	// the waits of every task that started: with Started, they let tests check Little's law.
	QueuedSeconds, Waited float64
	Started               int64
}

// task is one arrival: when it came and how long it will run (+Inf: it hangs).
type task struct {
	at, service float64
}

// running is a task on a worker, ordered by when it ends.
type running struct {
	end, start float64
}

type runHeap []running

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(running)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Streams of the random generator, one per kind of draw (see the package comment).
const (
	streamLoad    = 0x6c6f6164 // arrivals and service times
	streamOutcome = 0x6f757463 // success or error of each completed task
)

// arrivals generates the tasks of a scenario in time order, one second at a time: within
// second s the arrivals are a Poisson process of the rate the curve has at s+0.5, so their
// count is Poisson and their times uniform, drawn here as exponential gaps.
type arrivals struct {
	sc        *Scenario
	rng       *rand.Rand
	sigma     float64
	nextHang  float64 // +Inf without hung tasks
	hangEvery float64
	second    int
	horizon   int
	buf       []task
	i         int
	hung      int64
}

func newArrivals(sc *Scenario) *arrivals {
	a := &arrivals{
		sc:       sc,
		rng:      rand.New(rand.NewPCG(*sc.Seed, streamLoad)),
		sigma:    *sc.Sigma,
		nextHang: math.Inf(1),
		horizon:  int(sc.Horizon.Seconds()),
	}
	if sc.HangEvery != nil {
		a.hangEvery = sc.HangEvery.Seconds()
		a.nextHang = a.hangEvery
	}
	return a
}

// peek returns the next arrival without taking it; ok is false after the horizon.
func (a *arrivals) peek() (task, bool) {
	for a.i == len(a.buf) {
		if a.second >= a.horizon {
			return task{}, false
		}
		a.fill(a.second)
		a.second++
	}
	return a.buf[a.i], true
}

func (a *arrivals) next() { a.i++ }

func (a *arrivals) fill(sec int) {
	a.buf, a.i = a.buf[:0], 0
	rate := a.sc.Arrival.At(float64(sec) + 0.5)
	if rate <= 0 {
		return
	}
	for x := a.rng.ExpFloat64() / rate; x < 1; x += a.rng.ExpFloat64() / rate {
		t := float64(sec) + x
		d := a.serviceTime(t)
		if t >= a.nextHang {
			d = math.Inf(1)
			a.nextHang += a.hangEvery
			a.hung++
		}
		a.buf = append(a.buf, task{at: t, service: d})
	}
}

// serviceTime draws a lognormal time whose mean is the service curve at t.
func (a *arrivals) serviceTime(t float64) float64 {
	mean := a.sc.Service.At(t)
	if mean <= 0 {
		return 0
	}
	mu := math.Log(mean) - a.sigma*a.sigma/2
	return math.Exp(mu + a.sigma*a.rng.NormFloat64())
}

// sim is the state of one run.
type sim struct {
	sc      *Scenario
	workers int    // the capacity now
	resize  []Step // the resizes still to come
	qcap    int    // -1: unbounded
	timeout float64
	outcome *rand.Rand
	errRate float64

	now   float64
	queue []task // FIFO: queue[qhead:] waits
	qhead int
	run   runHeap

	s   Sample // the counters and histograms, kept current
	res Result
}

// Simulate runs a scenario from 0 to its horizon.
func Simulate(sc *Scenario) *Result {
	m := &sim{
		sc:      sc,
		workers: sc.Workers,
		resize:  sc.Resize,
		qcap:    -1,
		timeout: sc.Timeout.Seconds(),
		outcome: rand.New(rand.NewPCG(*sc.Seed, streamOutcome)),
		errRate: *sc.ErrorRatio,
	}
	if sc.Queue != nil {
		m.qcap = *sc.Queue
	}
	m.res.Stall = math.NaN()
	arr := newArrivals(sc)
	step, horizon := sc.Scrape.Seconds(), sc.Horizon.Seconds()

	for k := 0; ; {
		tSample := float64(k) * step
		if tSample > horizon+1e-9 {
			break
		}
		tResize := math.Inf(1)
		if len(m.resize) > 0 {
			tResize = m.resize[0].At.Seconds()
		}
		tEnd := math.Inf(1)
		if len(m.run) > 0 {
			tEnd = m.run[0].end
		}
		next, more := arr.peek()
		tArr := math.Inf(1)
		if more {
			tArr = next.at
		}
		// At equal times a resize comes first (from its minute on, the pool has that many
		// workers: the scrape at that minute sees them); then a scrape sees the state before
		// the other events; then ends, then arrivals.
		switch t := math.Min(math.Min(tResize, tSample), math.Min(tEnd, tArr)); t {
		case tResize:
			m.advance(t)
			m.workers = m.resize[0].Workers
			m.resize = m.resize[1:]
			// Growing: the new workers take queued tasks at once. Shrinking: nothing
			// stops; dispatch starts no task while as many run as the new capacity.
			m.dispatch()
		case tSample:
			m.advance(t)
			m.res.Samples = append(m.res.Samples, m.sample())
			k++
		case tEnd:
			m.advance(t)
			m.finish()
			m.dispatch()
		default:
			m.advance(t)
			arr.next()
			m.arrive(next)
		}
	}
	m.res.Tasks, m.res.Hung = m.s.Submitted, arr.hung
	return &m.res
}

// advance moves the clock to t, adding up the integrals, and notes the stall if the head of
// the queue has by now waited the timeout.
func (m *sim) advance(t float64) {
	dt := t - m.now
	busy := len(m.run)
	m.s.BusySeconds += float64(busy) * dt
	if busy >= m.workers { // more than the capacity only after a shrink: still saturated
		m.s.SaturatedSeconds += dt
	}
	m.res.QueuedSeconds += float64(m.queued()) * dt
	m.now = t
	if m.queued() > 0 {
		if head := m.queue[m.qhead].at; m.now-head >= m.timeout {
			m.stall(head + m.timeout)
		}
	}
}

func (m *sim) stall(t float64) {
	if math.IsNaN(m.res.Stall) || t < m.res.Stall {
		m.res.Stall = t
	}
}

func (m *sim) queued() int { return len(m.queue) - m.qhead }

func (m *sim) arrive(t task) {
	m.s.Submitted++
	if len(m.run) >= m.workers && m.qcap >= 0 && m.queued() >= m.qcap {
		m.s.Rejected++
		m.stall(m.now)
		return
	}
	m.queue = append(m.queue, t)
	m.dispatch()
}

// dispatch starts queued tasks while a worker is free.
func (m *sim) dispatch() {
	for m.queued() > 0 && len(m.run) < m.workers {
		t := m.queue[m.qhead]
		m.qhead++
		wait := m.now - t.at
		if wait >= m.timeout {
			m.stall(t.at + m.timeout)
		}
		m.s.Wait.observe(wait)
		m.res.Waited += wait
		m.res.Started++
		heap.Push(&m.run, running{end: m.now + t.service, start: m.now})
	}
	// Reclaim the consumed head of the queue once it is most of the slice.
	if m.qhead > 1024 && m.qhead*2 > len(m.queue) {
		m.queue = append(m.queue[:0], m.queue[m.qhead:]...)
		m.qhead = 0
	}
}

// finish ends the task that ends first.
func (m *sim) finish() {
	r := heap.Pop(&m.run).(running)
	m.s.Duration.observe(r.end - r.start)
	if m.outcome.Float64() < m.errRate {
		m.s.Failed++
	} else {
		m.s.Succeeded++
	}
}

func (m *sim) sample() Sample {
	s := m.s
	s.T = m.now
	s.Workers = m.workers
	s.Busy, s.Queued = len(m.run), m.queued()
	if s.Queued > 0 {
		s.OldestQueued = m.now - m.queue[m.qhead].at
	}
	// At most one task per worker runs: a scan per scrape is cheaper than an index kept
	// current at every start and end.
	s.BusySecondsWholeStarts = s.BusySeconds
	for _, r := range m.run {
		s.OldestRunning = max(s.OldestRunning, m.now-r.start)
		s.BusySecondsWholeStarts -= (m.now - r.start) - max(0, m.now-math.Floor(r.start)-1)
	}
	return s
}
