package collector

import (
	"time"

	"github.com/poolwatch/poolwatch/internal/contract"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogram is a classic histogram with the contract's buckets, updated under the tracker's
// lock. Keeping it there (rather than in a prometheus.Histogram) makes a scrape consistent:
// the wait histogram's count is exactly the number of tasks ever started, the same snapshot
// as the counters and gauges next to it.
type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last one is +Inf
	count  uint64
	sum    float64
}

func newHistogram() histogram {
	return histogram{counts: make([]uint64, len(contract.Buckets)+1)}
}

// observe adds one value in seconds. A binary search by hand: sort.SearchFloat64s would cost
// a closure call per step on the hot path.
func (h *histogram) observe(v float64) {
	lo, hi := 0, len(contract.Buckets)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if contract.Buckets[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	h.counts[lo]++
	h.count++
	h.sum += v
}

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
		Name:                            name,
		Help:                            contract.Help[name],
		ConstLabels:                     prometheus.Labels{contract.LabelPool: pool},
		Buckets:                         contract.Buckets,
		NativeHistogramBucketFactor:     factor,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
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
