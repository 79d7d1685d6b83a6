package collector

import (
	"math"
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogram is a classic histogram with the contract's buckets, updated under a tracker
// shard's lock. Keeping it there (rather than in a prometheus.Histogram) makes a scrape
// consistent: the wait histogram's count is exactly the number of tasks ever started, the
// same snapshot as the counters and gauges next to it. It works in integer nanoseconds so
// that the critical section does no division and no float comparison, and it is a plain
// array so that a shard's histograms sit next to its counters.
type histogram struct {
	counts   [numBuckets + 1]uint64 // per bucket, not cumulative; the last one is +Inf
	count    uint64
	sumNanos float64
}

// numBuckets is len(contract.Buckets), checked when the package loads.
const numBuckets = 16

// bucketNanos are contract.Buckets in nanoseconds. Each boundary is rounded up, so that a
// value equal to a boundary in seconds still counts in that boundary's bucket.
var bucketNanos = func() (b [numBuckets]int64) {
	if len(contract.Buckets) != numBuckets {
		panic("collector: numBuckets does not match contract.Buckets")
	}
	for i, s := range contract.Buckets {
		b[i] = int64(math.Ceil(s * float64(time.Second)))
	}
	return b
}()

// observe adds one value in nanoseconds. A linear scan from the smallest bucket: most tasks
// of a healthy pool land in the first few, where it ends at once and predictably, which beats
// a binary search's mispredicted branches on this hot path.
func (h *histogram) observe(ns int64) {
	i := 0
	for i < numBuckets && ns > bucketNanos[i] {
		i++
	}
	h.counts[i]++
	h.count++
	h.sumNanos += float64(ns)
}

// add merges o into h (a scrape sums the shards).
func (h *histogram) add(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.count += o.count
	h.sumNanos += o.sumNanos
}

func (h *histogram) sum() float64 { return h.sumNanos / float64(time.Second) }

// cumulative returns the buckets as client_golang's const histograms want them.
func (h *histogram) cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, numBuckets)
	var acc uint64
	for i, b := range contract.Buckets {
		acc += h.counts[i]
		m[b] = acc
	}
	return m
}

// newNative returns the client_golang histogram that backs a native histogram, or nil when
// they are not wanted. It is observed under a shard's lock, like the classic one, and
// written out while a scrape holds every shard, so native and classic views of one scrape agree.
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

// frozenMetric is a metric written out under the shards' locks, sent after it is released.
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
