package apache

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/poolwatch/poolwatch/exporter"
)

// scoreboardStates are the characters mod_status writes for a worker slot
// (modules/generators/mod_status.c): "_" waiting for a connection, "S" starting, "R" reading
// the request, "W" sending the reply, "K" keep-alive, "D" DNS lookup, "C" closing, "L"
// logging, "G" gracefully finishing, "I" idle cleanup, "." an open slot with no process.
const scoreboardStates = "_SRWKDCLGI."

// Parse turns one mod_status ?auto page into the pool it describes, named pool. The mapping,
// each rule argued from httpd 2.4's mod_status.c and scoreboard.c:
//
//   - max_workers = the length of "Scoreboard". mod_status writes one character per slot the
//     MPM may use: MaxRequestWorkers for prefork, and for worker and event the slots of the
//     processes MaxRequestWorkers allows (MaxRequestWorkers / ThreadsPerChild of them, times
//     ThreadsPerChild), not ServerLimit × ThreadLimit. Slots beyond that are written only
//     while a process still occupies them: while a graceful restart or the event MPM retires
//     a process, the count can briefly include its slots.
//   - workers = the slots that are not ".": each is a process or thread that exists and holds
//     one of those slots, whatever it is doing.
//   - busy_workers = "BusyWorkers": the server's own count of slots handling a connection
//     (reading, writing, keep-alive, closing, logging), leaving out starting, idle, gracefully
//     finishing and retiring ones. A status request is one of them: it needs a worker too.
//   - tasks_completed_total{outcome="success"} = "Total Accesses": the sum of every slot's
//     access count, which ap_increment_counts adds to when a request's end-of-request bucket
//     is destroyed, after the response is sent, so requests in flight are not in it. A slot
//     keeps its count when its process is replaced, and through a graceful restart (which
//     keeps the scoreboard); a restart clears it (a counter reset). It needs ExtendedStatus
//     (on by default since 2.3.6); without it the series is absent. Apache does not split it
//     by status code.
//
// Absent, because mod_status does not measure them: the queue (connections waiting in the
// listen backlog are not reported), busy seconds ("Total Duration" adds a request's time only
// when it ends, and the CPU counters are CPU time, not worker time), the oldest running
// request (?auto has no per-worker times), waits and rejections.
func Parse(body []byte, pool string) (exporter.Pool, error) {
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), len(body)+1)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue // the first line is the server's name
		}
		fields[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	if err := sc.Err(); err != nil {
		return exporter.Pool{}, fmt.Errorf("reading mod_status output: %w", err)
	}
	p := exporter.Pool{Name: pool, QueueNotMeasured: true}
	scoreboard, ok := fields["Scoreboard"]
	if !ok {
		return p, errors.New(`no "Scoreboard" line: not a mod_status ?auto page`)
	}
	if scoreboard == "" {
		return p, errors.New("empty scoreboard: no worker slots")
	}
	open := 0
	busyStates := 0
	for _, c := range scoreboard {
		if !strings.ContainsRune(scoreboardStates, c) {
			return p, fmt.Errorf("scoreboard has an unknown state %q", c)
		}
		switch c {
		case '.':
			open++
		case 'R', 'W', 'K', 'D', 'C', 'L':
			busyStates++
		}
	}
	busy, err := count(fields, "BusyWorkers")
	if err != nil {
		return p, err
	}
	if busy == nil {
		return p, errors.New(`no "BusyWorkers" line: not a mod_status ?auto page`)
	}
	if *busy > float64(busyStates) {
		return p, fmt.Errorf("BusyWorkers %v but only %d busy slots in the scoreboard", *busy, busyStates)
	}
	p.MaxWorkers = float64(len(scoreboard))
	p.Workers = float64(len(scoreboard) - open)
	p.BusyWorkers = *busy
	accesses, err := count(fields, "Total Accesses")
	if err != nil {
		return p, err
	}
	if accesses != nil {
		p.TasksCompletedTotal = map[string]float64{"success": *accesses}
	}
	return p, nil
}

// count returns the named field as a non-negative integer, nil when absent.
func count(fields map[string]string, name string) (*float64, error) {
	s, ok := fields[name]
	if !ok {
		return nil, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !exporter.IsCount(v) {
		return nil, fmt.Errorf("%s is %q, want a count", name, s)
	}
	return &v, nil
}
