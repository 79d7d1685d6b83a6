package collector

// timeSet holds the start times of the tasks currently in one state (queued, or running), so
// that a scrape can report the oldest. Tasks leave in any order (a short task started after a
// long one finishes first), so a FIFO is not enough; a slot table with a free list is, and it
// allocates only when the number of tasks in that state exceeds every earlier peak.
//
// A slot's generation is odd while it is in use and even while it is free. A ticket keeps the
// generation it was given, so a stale or copied ticket cannot free a slot twice.
type timeSet struct {
	at   []int64
	gen  []uint32
	free []int32
	n    int
}

func newTimeSet(capacity int) timeSet {
	return timeSet{
		at:   make([]int64, 0, capacity),
		gen:  make([]uint32, 0, capacity),
		free: make([]int32, 0, capacity),
	}
}

// add records a task that entered the state at time at.
func (s *timeSet) add(at int64) (slot int32, gen uint32) {
	if k := len(s.free); k > 0 {
		slot = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		slot = int32(len(s.at))
		s.at = append(s.at, 0)
		s.gen = append(s.gen, 0)
	}
	s.at[slot] = at
	s.gen[slot]++
	s.n++
	return slot, s.gen[slot]
}

// remove frees a slot and reports whether the ticket really held it.
func (s *timeSet) remove(slot int32, gen uint32) bool {
	if slot < 0 || int(slot) >= len(s.gen) || s.gen[slot] != gen || gen&1 == 0 {
		return false
	}
	s.gen[slot]++
	s.free = append(s.free, slot)
	s.n--
	return true
}

// oldest returns the earliest time in the set; ok is false when the set is empty. It scans
// every slot: the scan happens once per scrape, the table is as large as the peak number of
// tasks in that state, and it keeps add and remove O(1) on the hot path.
func (s *timeSet) oldest() (at int64, ok bool) {
	if s.n == 0 {
		return 0, false
	}
	for i, g := range s.gen {
		if g&1 == 1 && (!ok || s.at[i] < at) {
			at, ok = s.at[i], true
		}
	}
	return at, ok
}
