//go:build ignore

// Writes the real-traffic scenarios of this folder from biocaccess-hourly.csv (the hourly
// request counts that extract.sh takes from the Debian package r-cran-latticeextra), or, with
// -check, fails if a committed scenario differs from what it would write.
//
//	go run mixin/scenarios/real/generate.go [-check]
//
// The transform, the same for every scenario: the window's hourly counts become a
// piecewise-linear arrival rate with one point at the middle of each hour (minute 30, 90,
// ...), in requests per second, scaled so that the window's busiest hour keeps the pool
// exactly `peak` busy (rate × mean service time ÷ workers). A capacity problem is a change of
// the mean service time over time (a slow dependency, a slow leak); the traffic is the real
// one throughout.
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// shape is a pool: its workers, queue (nil: unbounded), mean service time (s) and the
// client's timeout.
type shape struct {
	workers int
	queue   *int
	service float64
	timeout string
	label   string // for the scenario's name
}

func bounded(n int) *int { return &n }

var (
	batch = shape{workers: 4, service: 2, timeout: "30s", label: "4w-2s"}
	web   = shape{workers: 16, queue: bounded(32), service: 0.2, timeout: "10s", label: "16w-200ms-q32"}
	webU  = shape{workers: 16, service: 0.2, timeout: "10s", label: "16w-200ms"}
	api   = shape{workers: 128, service: 0.05, timeout: "5s", label: "128w-50ms"}
)

// scenario is one window of the trace on one pool. slow is the service time's factor over the
// window, as [[minute, factor], ...] from the window's start (nil: the pool stays healthy).
type scenario struct {
	name, description string
	start             string // the window's first hour: "2007-01-10T00"
	hours             int    // the window's length in hours: the scenario's horizon
	pool              shape
	peak              float64 // how busy the busiest hour keeps the healthy pool
	slow              [][2]float64
	lead              string
	seed              int
	// open: the rules do not pass it yet; written only with -open DIR, not into the suite,
	// so that it can be run by hand against rules being tuned (README.md: measured leads).
	open bool
}

const peak = 0.75

var scenarios = []scenario{
	// Healthy days at their real peaks.
	{name: "weekday", start: "2007-01-10T00", hours: 24, pool: web, peak: peak, seed: 101,
		description: "the trace's busiest ordinary weekday (Wed 10 Jan 2007): a one-hour spike to 3x the hours around it at 05:00, a climb from 10% to 58% busy in the evening"},
	{name: "weekday", start: "2007-01-10T00", hours: 24, pool: batch, peak: peak, seed: 102,
		description: "the same weekday on a pool of four workers with two-second tasks"},
	{name: "saturday-burst", start: "2007-01-06T00", hours: 24, pool: api, peak: peak, seed: 103,
		description: "a quiet Saturday (6 Jan 2007) with an evening burst: from 7% to 56% busy within one hour at 19:00, 75% at 21:00, back down at 23:00"},
	{name: "saturday-burst", start: "2007-01-06T00", hours: 24, pool: webU, peak: peak, seed: 104,
		description: "the same Saturday on a pool of 16 workers with an unbounded queue"},
	{name: "biggest-burst", start: "2007-05-15T00", hours: 24, pool: webU, peak: peak, seed: 105,
		description: "the day of the trace's largest bursts (Tue 15 May 2007): two one-hour bursts to 5x the day's level, at 01:00 and 17:00"},

	// The same days with a capacity problem overlaid: each window starts 6 hours before it
	// (2 for the largest burst, whose day starts with one) and ends half an hour to an hour
	// after the stall.
	{name: "weekday-slow-dependency", start: "2007-01-10T12", hours: 9, pool: web, peak: peak, seed: 111, lead: "5m",
		slow:        [][2]float64{{0, 1}, {360, 1}, {360, 2}},
		description: "the weekday's second half; at 18:00 a dependency doubles the service time (from 10% to 20% busy, 58% before the dependency at the evening's peak), and the evening's climb drives the pool into its limit"},
	{name: "weekday-slow-dependency", start: "2007-01-10T12", hours: 9, pool: webU, peak: peak, seed: 111, lead: "5m",
		slow:        [][2]float64{{0, 1}, {360, 1}, {360, 2}},
		description: "the same slow dependency on the same pool with an unbounded queue: its stall is the first task to wait 10 s"},
	{name: "weekday-slow-leak", start: "2007-01-10T06", hours: 15, pool: batch, peak: peak, seed: 112, lead: "5m",
		slow:        [][2]float64{{0, 1}, {180, 1}, {540, 2}},
		description: "the weekday from 06:00 on four 2-second workers; from 09:00 to 15:00 the service time grows steadily to twice its own (a leak), and the evening's climb drives the pool into its limit"},
	{name: "saturday-burst-slow-dependency", start: "2007-01-06T06", hours: 14, pool: api, peak: peak, seed: 113, lead: "5m",
		slow:        [][2]float64{{0, 1}, {360, 1}, {360, 3}},
		description: "the Saturday from 06:00; at 12:00 a dependency triples the service time (from 8% to 23% busy), and the evening burst drives the pool into its limit"},
	{name: "biggest-burst-slow-dependency", start: "2007-05-15T06", hours: 12, pool: webU, peak: peak, seed: 114, lead: "5m",
		slow:        [][2]float64{{0, 1}, {120, 1}, {120, 1.5}},
		description: "the day of the largest bursts from 06:00; at 08:00 a dependency makes every task 1.5 times as long (from 21% to 32% busy), and the 17:00 burst drives the pool into its limit"},
}

type hour struct {
	key      string // "2007-01-10T05"
	requests float64
}

func readTrace(path string) ([]hour, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || strings.Join(rows[0], ",") != "date,hour,weekday,requests" {
		return nil, fmt.Errorf("%s: want the header date,hour,weekday,requests", path)
	}
	var out []hour
	for i, r := range rows[1:] {
		h, err1 := strconv.Atoi(r[1])
		n, err2 := strconv.ParseFloat(r[3], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: row %d: bad hour or count", path, i+2)
		}
		out = append(out, hour{key: fmt.Sprintf("%sT%02d", r[0], h), requests: n})
	}
	return out, nil
}

// window returns the counts of n consecutive hours of the trace from start.
func window(trace []hour, start string, n int) ([]float64, error) {
	for i, h := range trace {
		if h.key == start {
			if i+n > len(trace) {
				return nil, fmt.Errorf("%s + %d h: past the trace's end", start, n)
			}
			out := make([]float64, n)
			for j := range out {
				out[j] = trace[i+j].requests
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s: no such hour in the trace", start)
}

// hourOf returns the hour of a key such as "2007-01-10T05".
func hourOf(key string) int {
	h, _ := strconv.Atoi(key[len(key)-2:])
	return h
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func render(s scenario, trace []hour) (name string, out []byte, err error) {
	counts, err := window(trace, s.start, s.hours)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", s.name, err)
	}
	// The real peak of the window's whole days keeps the healthy pool s.peak busy: rate (1/s)
	// = count/3600 × scale, so that a window cut from a day is scaled as the whole day is.
	days, err := window(trace, s.start[:len("2007-01-10")]+"T00", (s.hours+hourOf(s.start)+23)/24*24)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", s.name, err)
	}
	top := 0.0
	for _, c := range days {
		top = math.Max(top, c)
	}
	scale := s.peak * float64(s.pool.workers) / s.pool.service / (top / 3600)
	var arrival []string
	for i, c := range counts {
		rate := math.Round(c/3600*scale*1000) / 1000
		arrival = append(arrival, fmt.Sprintf("[%d, %s]", i*60+30, num(rate)))
	}
	kind := "healthy"
	service := num(s.pool.service)
	if s.slow != nil {
		kind = "exhaustion"
		var pts []string
		for _, p := range s.slow {
			pts = append(pts, fmt.Sprintf("[%s, %s]", num(p[0]), num(math.Round(s.pool.service*p[1]*1e6)/1e6)))
		}
		service = "[" + strings.Join(pts, ", ") + "]"
	}
	queue := "null"
	if s.pool.queue != nil {
		queue = strconv.Itoa(*s.pool.queue)
	}
	name = fmt.Sprintf("real-bioc-%s-%s", s.name, s.pool.label)
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"name\": %q, \"kind\": %q,\n", name, kind)
	fmt.Fprintf(&b, " \"description\": %q,\n", "Hourly requests to the Bioconductor website (biocAccess, R package latticeExtra 0.6-30), "+
		strings.ReplaceAll(s.start, "T", " ")+":00 + "+strconv.Itoa(s.hours)+"h, scaled so the busiest hour of its day keeps the pool "+
		num(s.peak*100)+"% busy: "+s.description+". Written by generate.go.")
	fmt.Fprintf(&b, " \"instance\": \"bioc-%d:8080\", \"pool\": \"web\",\n", s.seed)
	fmt.Fprintf(&b, " \"horizon\": \"%dh\", \"workers\": %d, \"queue\": %s, \"timeout\": %q,\n", s.hours, s.pool.workers, queue, s.pool.timeout)
	fmt.Fprintf(&b, " \"arrival\": [%s],\n", strings.Join(arrival, ", "))
	fmt.Fprintf(&b, " \"service\": %s,\n", service)
	if s.slow != nil {
		// No page while the pool is healthy: until the capacity problem starts.
		quiet := s.slow[0][0]
		for i := 1; i < len(s.slow); i++ {
			if s.slow[i][1] != s.slow[0][1] {
				quiet = s.slow[i-1][0]
				break
			}
		}
		fmt.Fprintf(&b, " \"lead\": %q, \"quiet_until\": \"%sm\",\n", s.lead, num(quiet))
	}
	fmt.Fprintf(&b, " \"seed\": %d}\n", s.seed)
	return name, b.Bytes(), nil
}

func main() {
	check := flag.Bool("check", false, "fail if a committed scenario differs from what would be written")
	openDir := flag.String("open", "", "write the open scenarios (those the rules do not pass yet) into this folder")
	flag.Parse()
	dir := "mixin/scenarios/real"
	trace, err := readTrace(filepath.Join(dir, "biocaccess-hourly.csv"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
	bad := false
	for _, s := range scenarios {
		name, out, err := render(s, trace)
		if err != nil {
			fmt.Fprintln(os.Stderr, "generate:", err)
			os.Exit(1)
		}
		path := filepath.Join(dir, name+".json")
		if s.open {
			if *openDir == "" {
				continue
			}
			path = filepath.Join(*openDir, name+".json")
		}
		if *check {
			if s.open {
				continue
			}
			if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, out) {
				fmt.Fprintf(os.Stderr, "generate: %s differs from what generate.go writes: run go run %s/generate.go\n", path, dir)
				bad = true
			}
			continue
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "generate:", err)
			os.Exit(1)
		}
	}
	if bad {
		os.Exit(1)
	}
}
