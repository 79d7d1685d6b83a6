package panelquery

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// The kinds of pool the end-to-end test selects in the dashboards.
const (
	PoolsGo       = "Go"       // pools of the collector package (the demo, a native-histogram pool)
	PoolsCherryPy = "CherryPy" // the exporter's CherryPy source
)

// What a Prometheus stores of a histogram, as far as an absent query is concerned.
const (
	PrometheusAny     = "any"
	PrometheusClassic = "classic only" // no native histograms stored (Prometheus 2, or 3 without scraping them)
)

// Absent is one query that returns nothing, by design, for one kind of pool.
type Absent struct {
	Dashboard  string // file name
	Panel      string // title
	RefID      string
	Pools      string // PoolsGo or PoolsCherryPy
	Prometheus string // PrometheusAny or PrometheusClassic
	Why        string
}

// Matches reports whether a is about target t for pools of kind pools on a Prometheus that
// stores native histograms (native) or not.
func (a Absent) Matches(t Target, pools string, native bool) bool {
	return a.Dashboard == t.Dashboard && a.Panel == t.Panel && a.RefID == t.RefID && a.Pools == pools &&
		(a.Prometheus == PrometheusAny || (a.Prometheus == PrometheusClassic && !native))
}

func (a Absent) String() string {
	return fmt.Sprintf("%s / %q / %s for %s pools (Prometheus: %s)", a.Dashboard, a.Panel, a.RefID, a.Pools, a.Prometheus)
}

// Markers around the table in mixin/README.md.
const (
	absentBegin = "<!-- panels absent by design: begin -->"
	absentEnd   = "<!-- panels absent by design: end -->"
)

// ParseAbsent reads the table of queries absent by design between the markers in
// mixin/README.md: | Dashboard | Panel | Query | Pools | Prometheus | Why |, with the
// dashboard's file name and the query's refId in backquotes.
func ParseAbsent(readme []byte) ([]Absent, error) {
	begin := bytes.Index(readme, []byte(absentBegin))
	end := bytes.Index(readme, []byte(absentEnd))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("no table between %q and %q", absentBegin, absentEnd)
	}
	var out []Absent
	sc := bufio.NewScanner(bytes.NewReader(readme[begin+len(absentBegin) : end]))
	rows := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			return nil, fmt.Errorf("not a table row: %q", line)
		}
		rows++
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 6 {
			return nil, fmt.Errorf("row %q: %d cells, want 6 (Dashboard | Panel | Query | Pools | Prometheus | Why)", line, len(cells))
		}
		if rows <= 2 { // the header and the |---| line
			continue
		}
		a := Absent{
			Dashboard: strings.Trim(cells[0], "`"), Panel: cells[1], RefID: strings.Trim(cells[2], "`"),
			Pools: cells[3], Prometheus: cells[4], Why: cells[5],
		}
		if a.Pools != PoolsGo && a.Pools != PoolsCherryPy {
			return nil, fmt.Errorf("row %q: pools %q, want %s or %s", line, a.Pools, PoolsGo, PoolsCherryPy)
		}
		if a.Prometheus != PrometheusAny && a.Prometheus != PrometheusClassic {
			return nil, fmt.Errorf("row %q: Prometheus %q, want %q or %q", line, a.Prometheus, PrometheusAny, PrometheusClassic)
		}
		if a.Why == "" {
			return nil, fmt.Errorf("row %q: no reason", line)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}
