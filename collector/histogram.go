package collector

import "github.com/poolwatch/poolwatch/internal/contract"

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
