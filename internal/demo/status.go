package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// status prints one line per interval, computed from the registry exactly as Prometheus would
// compute it from two scrapes: utilization from the increase of busy seconds, the wait p99
// from the increase of the wait histogram's buckets.
type status struct {
	reg  prometheus.Gatherer
	out  io.Writer
	gen  interface{ factor() float64 }
	prev map[string]poolReading
	at   time.Time
}

// poolReading is what the status line needs from one scrape of one pool.
type poolReading struct {
	max, busy, queued, maxQueued float64
	busySeconds, rejected        float64
	waitCount                    uint64
	waitBuckets                  []*dto.Bucket
}

func (s *status) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	s.at = time.Now()
	s.prev, _ = read(s.reg)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cur, err := read(s.reg)
			if err != nil {
				fmt.Fprintf(s.out, "status: %v\n", err)
				continue
			}
			fmt.Fprintln(s.out, line(s.gen.factor(), s.prev, cur, now.Sub(s.at)))
			s.prev, s.at = cur, now
		}
	}
}

// line formats the status of every pool between two readings taken elapsed apart.
func line(load float64, prev, cur map[string]poolReading, elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "load %3.0f%%", 100*load)
	for _, name := range []string{"jobs", "http"} {
		c, ok := cur[name]
		if !ok {
			continue
		}
		p := prev[name]
		util := 0.0
		if elapsed > 0 && c.max > 0 {
			util = (c.busySeconds - p.busySeconds) / elapsed.Seconds() / c.max
		}
		fmt.Fprintf(&b, " | %s: util %3.0f%% busy %.0f/%.0f queued %.0f/%.0f wait p99 %s rejected +%.0f",
			name, 100*util, c.busy, c.max, c.queued, c.maxQueued,
			formatSeconds(quantile(0.99, p.waitBuckets, c.waitBuckets, c.waitCount-p.waitCount)),
			c.rejected-p.rejected)
	}
	return b.String()
}

func formatSeconds(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case math.IsInf(v, 1):
		return ">max"
	}
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
}

// quantile is histogram_quantile over the increase between two readings of cumulative
// buckets: linear interpolation inside the bucket that holds the q-th observation. NaN when
// nothing was observed in between; +Inf when it falls in the +Inf bucket.
func quantile(q float64, prev, cur []*dto.Bucket, count uint64) float64 {
	if count == 0 || len(cur) == 0 {
		return math.NaN()
	}
	before := func(i int) uint64 {
		if i < len(prev) {
			return prev[i].GetCumulativeCount()
		}
		return 0
	}
	rank := q * float64(count)
	lower, below := 0.0, 0.0
	for i, b := range cur {
		n := float64(b.GetCumulativeCount() - before(i))
		if n >= rank {
			if n == below {
				return b.GetUpperBound()
			}
			return lower + (b.GetUpperBound()-lower)*(rank-below)/(n-below)
		}
		lower, below = b.GetUpperBound(), n
	}
	return math.Inf(1)
}

// read gathers the registry and picks out each pool's numbers.
func read(g prometheus.Gatherer) (map[string]poolReading, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	pools := map[string]poolReading{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			pool := poolLabel(m)
			if pool == "" {
				continue
			}
			r := pools[pool]
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			switch mf.GetName() {
			case contract.MaxWorkers:
				r.max = v
			case contract.BusyWorkers:
				r.busy = v
			case contract.QueuedTasks:
				r.queued = v
			case contract.MaxQueuedTasks:
				r.maxQueued = v
			case contract.BusySecondsTotal:
				r.busySeconds = v
			case contract.TasksRejectedTotal:
				r.rejected += v
			case contract.TaskWaitSeconds:
				r.waitCount = m.GetHistogram().GetSampleCount()
				r.waitBuckets = m.GetHistogram().GetBucket()
			}
			pools[pool] = r
		}
	}
	return pools, nil
}

func poolLabel(m *dto.Metric) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == contract.LabelPool {
			return lp.GetValue()
		}
	}
	return ""
}
