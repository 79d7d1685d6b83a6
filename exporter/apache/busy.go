package apache

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/poolwatch/poolwatch/exporter"
)

// Busy seconds come from mod_status's per-worker table (the page without ?auto, which has
// it with ExtendedStatus On): every slot's "Dur", the milliseconds its finished requests
// took, plus, for a slot in a request now, "SS", the whole seconds since that request began.
// Both are read from one copy of the slot (mod_status.c copies each worker_score once for
// its row), so the two add up to the slot's busy time, rounded down to the second for the
// request in flight.
//
// Dur is the slot's worker_score.duration, which ap_time_process_request (server/scoreboard.c)
// adds stop_time - start_time to at STOP_PREQUEST. On MPMs that serve a connection
// synchronously (prefork, worker), ap_process_request (modules/http/http_request.c) calls
// ap_process_async_request, whose ap_process_request_after_handler times the request's end,
// and then times it again: each request counts about twice (measured on 2.4.71: a 1.5 s
// request added 3052 ms on prefork, 1514 ms on event). The event MPM takes the asynchronous
// path (HTTP/1.x, with or without TLS) and counts each request once. So busy seconds are read
// only where "ServerMPM" is event; elsewhere they are absent, as the contract wants for a
// series the server does not measure right. HTTP/2 streams run on mod_http2's own workers
// with no scoreboard handle (h2_c2.c: c2->sbh = NULL), so their time is not in Dur while
// the connection's slot shows busy: a target that shows an HTTP/2 connection gets no busy
// seconds from then on (busyState.http2).

// workerRow is one row of mod_status's worker table:
//
//	<tr><td><b>0-0</b></td><td>28645</td><td>1/1/1</td><td><b>W</b>
//	</td><td>0.00</td><td>2</td><td>0</td><td>1514</td><td>0.0</td><td>0.00</td><td>0.00
//	</td><td>127.0.0.1</td><td>http/1.1</td>...
//
// Srv, PID ("-" for a dead slot), Acc, M (the mode, in <b> unless "_", ".", "G", "I" or
// "?"), CPU (only where httpd has times(2)), SS, Req, Dur, three byte columns, Client and
// Protocol.
var workerRow = regexp.MustCompile(`<tr><td><b>\d+-\d+</b></td><td>(?:\d+|-)</td><td>\d+/\d+/\d+</td><td>(?:<b>)?([_SRWKDCLGI.?])(?:</b>)?\n</td>(?:<td>\d+\.\d+</td>)?<td>(-?\d+)</td><td>-?\d+</td><td>(\d+)</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>`)

// inRequest are the modes of a slot between a request's START_PREQUEST and STOP_PREQUEST,
// whose SS counts from the request's start: "W" (the handler runs and writes), "L" (logging,
// at the end-of-request bucket, before the stop) and "D" (a DNS lookup for the request). "R"
// reads a request not yet started, "K" and "C" follow one that stopped; their SS counts from
// the last request's end.
const inRequest = "WLD"

// workerTable is what the table says of the pool's busy time.
type workerTable struct {
	seconds float64 // finished requests' time plus the whole seconds of those in flight
	http2   bool    // a connection speaks HTTP/2
}

// parseTable reads the worker table of a mod_status page.
func parseTable(body []byte) (workerTable, error) {
	var w workerTable
	rows := workerRow.FindAllSubmatch(body, -1)
	if len(rows) == 0 {
		return w, errors.New("no worker table in the status page: ExtendedStatus is Off, or the page is not mod_status's")
	}
	var ms, inFlight float64
	for _, r := range rows {
		dur, err := strconv.ParseFloat(string(r[3]), 64)
		if err != nil || !exporter.IsCount(dur) {
			return w, fmt.Errorf("worker table: Dur %q is no count", r[3])
		}
		ms += dur
		if ss, err := strconv.ParseFloat(string(r[2]), 64); err == nil && ss > 0 && containsByte(inRequest, r[1][0]) {
			inFlight += ss
		}
		if p := string(r[4]); len(p) >= 2 && (p[:2] == "h2" || p[:2] == "H2") {
			w.http2 = true
		}
	}
	w.seconds = ms/1000 + inFlight
	return w, nil
}

func containsByte(s string, b byte) bool {
	for i := range len(s) {
		if s[i] == b {
			return true
		}
	}
	return false
}

// busyCounters keeps one busy-seconds counter per target. The table's sum only grows while
// httpd runs, but not from read to read without fail: the event MPM shows a slot "W" for a
// moment after a request stops, while it completes the write, with SS counting from the
// stop, and that time is gone from the next read. So the counter is the table's sum held at
// the most seen: a dip is held until the sum passes it again, and no second is counted twice.
// The counter starts at the table's sum (httpd's own count since its start), so a restart of
// the exporter does not reset it. A restart of httpd clears the scoreboard: a fall of the sum
// to under half the most seen is taken for one, and the counter starts again from the new
// sum (a counter reset, which rate() handles). A smaller fall is held, never reported: a
// counter that falls by a little reads as a reset to rate(), which would add all of it again.
type busyCounters = exporter.TargetStates[busyState]

// busyState is one target's counter, moved on by each read in its turn.
type busyState struct {
	read  bool
	at    time.Time // the last read's clock
	last  float64   // the value last reported
	http2 bool      // an HTTP/2 connection was seen: busy seconds are left out from then on
}

// total returns the busy seconds to report for a table read at at, on a pool of slots slots;
// restarted tells a restart of httpd. Called in turn.
func (s *busyState) total(w workerTable, at time.Time, slots float64) (v float64, restarted bool) {
	switch {
	case !s.read:
		s.read = true
		s.last = w.seconds
	case w.seconds < s.last/2:
		restarted = true
		s.last = w.seconds
	default:
		// No pool is busier than all its slots: whatever the page says (a target that
		// reaches two servers by turns), the counter grows by no more than the time since
		// the last read, by the monotonic clock, on every slot, plus a second a slot for the
		// whole seconds of requests in flight.
		growth := max(0, w.seconds-s.last)
		s.last += min(growth, max(0, at.Sub(s.at).Seconds()+1)*slots)
	}
	s.at = at
	return s.last, restarted
}
