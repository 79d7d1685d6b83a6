package collector

import (
	"testing"
	"time"
)

// A value on a boundary belongs to that boundary's bucket (le means "less or equal"), one
// nanosecond more to the next; beyond the last boundary is +Inf.
func TestHistogramBoundaries(t *testing.T) {
	var h histogram
	h.observe(0)
	h.observe(int64(5 * time.Millisecond))
	h.observe(int64(5*time.Millisecond) + 1)
	h.observe(int64(time.Hour))
	cum := h.cumulative()
	for le, want := range map[float64]uint64{0.001: 1, 0.0025: 1, 0.005: 2, 0.01: 3, 120: 3} {
		if cum[le] != want {
			t.Errorf("bucket le=%v: %d, want %d", le, cum[le], want)
		}
	}
	if h.count != 4 {
		t.Errorf("count %d, want 4", h.count)
	}
	if want := (0.005 + 0.005 + 1e-9 + 3600); h.sum() < want-1e-6 || h.sum() > want+1e-6 {
		t.Errorf("sum %v, want %v", h.sum(), want)
	}
}
