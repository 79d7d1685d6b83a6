package collector

import (
	"math"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogram is a classic histogram with the contract's buckets, updated under the tracker's
// lock. Keeping it there (rather than in a prometheus.Histogram) makes a scrape consistent:
// the wait histogram's count is exactly the number of tasks ever started, the same snapshot
// as the counters and gauges next to it. It works in integer nanoseconds so that the
// critical section does no division and no float comparison.
type histogram struct {
	counts   []uint64 // per bucket, not cumulative; the last one is +Inf
	count    uint64
	sumNanos float64
}

// bucketNanos are contract.Buckets in nanoseconds. Each boundary is rounded up, so that a
// value equal to a boundary in seconds still counts in that boundary's bucket.
var bucketNanos = func() []int64 {
	b := make([]int64, len(contract.Buckets))
	for i, s := range contract.Buckets {
		b[i] = int64(math.Ceil(s * float64(time.Second)))
	}
	return b
}()

func newHistogram() histogram {
	return histogram{counts: make([]uint64, len(contract.Buckets)+1)}
}

// observe adds one value in nanoseconds. A linear scan from the smallest bucket: most tasks
// of a healthy pool land in the first few, where it ends at once and predictably, which beats
// a binary search's mispredicted branches on this hot path.
func (h *histogram) observe(ns int64) {
	i := 0
	for i < len(bucketNanos) && ns > bucketNanos[i] {
		i++
	}
	h.counts[i]++
	h.count++
	h.sumNanos += float64(ns)
}

func (h *histogram) sum() float64 { return h.sumNanos / float64(time.Second) }

// cumulative returns the buckets as client_golang's const histograms want them.
func (h *histogram) cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, len(contract.Buckets))
	var acc uint64
	for i, b := range contract.Buckets {
		acc += h.counts[i]
		m[b] = acc
	}
	return m
}

func (h *histogram) clone() histogram {
	c := *h
	c.counts = append([]uint64(nil), h.counts...)
	return c
}

// newNative returns the client_golang histogram that backs a native histogram, or nil when
// they are not wanted. It is observed under the tracker's lock, like the classic one, and
// written out under it too, so native and classic views of one scrape agree.
func newNative(name, pool string, factor float64) prometheus.Histogram {
	if factor <= 1 {
		return nil
	}
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:                           name,
		Help:                           contract.Help[name],
		ConstLabels:                    prometheus.Labels{contract.LabelPool: pool},
		Buckets:                        contract.Buckets,
		NativeHistogramBucketFactor:    factor,
		NativeHistogramMaxBucketNumber: 160,
		// Zero: never reset. client_golang's reset zeroes the whole histogram, classic buckets,
		// count and sum included, which would break the contract's monotonic counters; past
		// 160 buckets it lowers the resolution instead.
		NativeHistogramMinResetDuration: 0,
	})
}

// frozenMetric is a metric written out under the tracker's lock, sent after it is released.
type frozenMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (f frozenMetric) Desc() *prometheus.Desc { return f.desc }

func (f frozenMetric) Write(out *dto.Metric) error {
	out.Label = f.m.Label
	out.Histogram = f.m.Histogram
	return nil
}

// freeze writes h out now; nil when h is nil.
func freeze(h prometheus.Histogram) *dto.Metric {
	if h == nil {
		return nil
	}
	m := &dto.Metric{}
	if err := h.Write(m); err != nil {
		return nil
	}
	return m
}
