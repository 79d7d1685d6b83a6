package tomcat

import (
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// busyReading is what one status document says of a connector's busy time, in seconds.
type busyReading struct {
	// processing is requestInfo processingTime: RequestGroupInfo.getProcessingTime sums its
	// processors' time (RequestInfo.updateCounters adds a request's time, System.nanoTime from
	// its start, as it ends) and the time of the processors it dropped (removeRequestProcessor
	// moves theirs to deadProcessingTime), under one lock: it only grows, unless a JMX
	// resetCounters or a restart sets it to 0.
	processing float64
	// inFlight is the requestProcessingTime of each worker in stage S or F: the time since its
	// request started (RequestInfo.getRequestProcessingTime).
	inFlight []float64
	// requests is requestInfo requestCount, -1 when unusable (the Java int wrapped).
	requests   float64
	maxThreads float64 // the pool's max_workers: what bounds the growth of a read
}

func (b busyReading) total() float64 {
	sum := b.processing
	for _, s := range b.inFlight {
		sum += s
	}
	return sum
}

// Bounds of what two documents may show, in seconds.
const (
	// clockSlack is added to the time between two documents, once a thread (the cap) or a
	// request (the no-thread test): Tomcat truncates its times to milliseconds and times them
	// by the JVM's clock, not the exporter's.
	clockSlack = 0.1
	// noThreadMargin is the time one read may count beyond what threads can have spent before
	// it is taken for time spent on no thread.
	noThreadMargin = 1.0
	// noThreadReads is how many reads must show time spent on no thread before a connector's
	// busy seconds are left out. A read is compared with the last two (see spentOnNoThread),
	// so that one race of the page cannot make it; two reads keep a connector that shows it
	// once by chance.
	noThreadReads = 2
	// maxConnectorStates bounds the connectors a target keeps a state for: a real Tomcat has a
	// few, a page may list any number.
	maxConnectorStates = 64
)

// busyState keeps one target's busy-seconds counters, one per connector. The counter is the
// sum of busyReading (processingTime plus the requests in flight) as Tomcat shows it, with
// what makes it a counter:
//
//   - Dips are held at the most seen. The page reads processingTime, then walks the workers
//     (StatusTransformer.writeConnectorState): a request that ends in between is in neither,
//     and the sum falls by its time until later requests make it up. A request that ends the
//     other way round is in both: Http11Processor.service calls updateCounters in stage
//     ENDOUTPUT (F), before setting KEEPALIVE, so for a moment its time is in processingTime
//     and in flight; the counter then holds that height until the sum reaches it again. The
//     error either way is at most the time of the requests caught so, and does not add up.
//   - A fall of processingTime to under half the most seen is a restart of Tomcat, or a JMX
//     resetCounters (RequestGroupInfo sets it to 0): nothing else makes it fall, save the
//     stale reads of one request's time. The counter then starts again from the new sum (at
//     most what the cap below allows), a reset that rate() handles.
//   - No read adds more than the time between the two documents (by the exporter's monotonic
//     clock, from the start of the last read to the end of this one) on every thread
//     (maxThreads), plus clockSlack a thread. What is cut is never added back: the counter
//     then stays below Tomcat's sum.
//   - A connector that counts time no thread held has its busy seconds left out, from the
//     read that shows it (see noThreadReads) until the exporter restarts. processingTime
//     counts a request from its first byte to its end (Http11InputBuffer.parseRequestLine
//     calls markStartTime, updateCounters takes System.nanoTime less that), so an async
//     request (startAsync ... complete) counts the time it waited on no thread: while it
//     waits, its processor is in stage ENDED, which the page shows as R with no time
//     (Http11Processor.service sets ENDED as the thread leaves; writeProcessorState), and when
//     it completes, AbstractProcessor.dispatch calls updateCounters with the whole time. A
//     read is taken to show such time when its growth (unheld) is more than its requests could
//     have spent on a thread since the last read: every request that ended since (requestCount)
//     at most the time between the documents, every request in flight at most its age and at
//     most that time, all threads at most maxThreads times it, and noThreadMargin. A request
//     shown in flight at the last read and ended since adds only what it ran since it was
//     shown, so only time hidden from the last read exceeds this: an async wait, a request
//     line read without a thread (a slow client: NIO returns the thread while the request line
//     is incomplete), or a race of the page as above, which the read before the last settles
//     (see spentOnNoThread). Async time is hidden among short requests, each of which allows
//     a read interval: the test catches async waits longer than the read interval on a
//     connector whose async requests outnumber its other requests per interval, or whose
//     async time exceeds its threads'.
//
// Tomcat's own sum is reported from the exporter's first read of a connector: it is a counter
// of the server (processingTime counts from Tomcat's start), so a restart of the exporter
// continues the series, and rate() across it stays right, where starting at 0 would be a
// reset. Reads of one target are taken one at a time (an [exporter.TargetStates] holds the
// states), so that the state moves in the order Tomcat wrote its documents.
type busyState struct {
	connectors map[string]*connectorBusy
}

type busyCounters = exporter.TargetStates[busyState]

// connectorBusy is one connector's counter.
type connectorBusy struct {
	at   time.Time   // the last read's start, its monotonic clock included
	last busyReading // the last read's reading, as read
	// before and beforeAt are the read before the last, since a restart: a request that
	// ended in the last read's race (see spentOnNoThread) was in flight there, or started
	// after it.
	before     *busyReading
	beforeAt   time.Time
	value      float64 // the value last reported
	seen       float64 // the most seen sum
	processing float64 // the most seen processingTime
	noThread   int     // reads that showed time spent on no thread
	left       bool    // busy seconds left out: noThread reached noThreadReads
}

// busyEvent is what a read did to a connector's counter, for the log.
type busyEvent int

const (
	busyCounted   busyEvent = iota
	busyRestarted           // processingTime fell: Tomcat restarted, or its counters were reset
	busyLeftOut             // this read left the connector's busy seconds out, from now on
	busyNoRoom              // the target has maxConnectorStates connectors: none for this one
)

// total returns the busy seconds to report for connector's reading r, taken by a read that
// began at at and ended at done, and moves the state on; ok is false when the connector's
// busy seconds are left out.
func (s *busyState) total(connector string, r busyReading, at, done time.Time) (v float64, ok bool, e busyEvent) {
	if s.connectors == nil {
		s.connectors = make(map[string]*connectorBusy)
	}
	c := s.connectors[connector]
	if c == nil {
		if len(s.connectors) >= maxConnectorStates {
			return 0, false, busyNoRoom // Tomcat's sum unheld would be no counter
		}
		c = &connectorBusy{value: r.total(), seen: r.total(), processing: r.processing}
		c.at, c.last = at, r
		s.connectors[connector] = c
		return c.value, true, busyCounted
	}
	if c.left {
		return 0, false, busyCounted
	}
	// The two documents were written no further apart than this.
	interval := max(0, done.Sub(c.at).Seconds())
	limit := (interval + clockSlack) * r.maxThreads
	sum := r.total()
	if r.processing < c.processing/2 {
		c.value, c.seen, c.processing = min(sum, limit), sum, r.processing
		c.at, c.last, c.before = at, r, nil
		return c.value, true, busyRestarted
	}
	if r.spentOnNoThread(c.last, interval) &&
		(c.before == nil || r.spentOnNoThread(*c.before, max(0, done.Sub(c.beforeAt).Seconds()))) {
		c.noThread++
		if c.noThread >= noThreadReads {
			c.left = true
			return 0, false, busyLeftOut
		}
	}
	c.value += min(max(0, sum-c.seen), limit)
	c.seen, c.processing = max(c.seen, sum), max(c.processing, r.processing)
	last := c.last
	c.before, c.beforeAt = &last, c.at
	c.at, c.last = at, r
	return c.value, true, busyCounted
}

// spentOnNoThread reports whether r counts more time since last than its requests can have
// spent on a thread in interval, the most time between the two documents (see busyState).
// A request that ended while last's page was written, after it read processingTime and before
// it read that request's worker, is in neither of last's sums, and r counts its whole time:
// busyState.total asks again of the read before last, where that request was in flight, or
// before which it had not started.
func (r busyReading) spentOnNoThread(last busyReading, interval float64) bool {
	if r.requests < 0 || last.requests < 0 {
		return false // without the requests that ended, there is no bound
	}
	each := interval + clockSlack
	bound := max(0, r.requests-last.requests) * each
	for _, s := range r.inFlight {
		bound += min(s, each)
	}
	bound = min(bound, each*r.maxThreads)
	return r.total()-last.total() > bound+noThreadMargin
}

// forget drops the states of connectors a read did not return, once a target has
// maxConnectorStates: room for new ones, where a connector gone for good (a changed
// server.xml) would hold it until the exporter restarts. One that comes back starts again
// from Tomcat's sum.
func (s *busyState) forget(returned map[string]bool) {
	if len(s.connectors) < maxConnectorStates {
		return
	}
	for name := range s.connectors {
		if !returned[name] {
			delete(s.connectors, name)
		}
	}
}
