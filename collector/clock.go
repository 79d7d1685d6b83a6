package collector

import "time"

// clock reads time as nanoseconds since the tracker was made. The default uses time.Since on
// a monotonic reading, which skips building a wall-clock time.Time on the hot path.
type clock struct {
	epoch time.Time
	read  func() time.Time // nil: the real clock
}

func newClock(read func() time.Time) clock {
	if read == nil {
		return clock{epoch: time.Now()}
	}
	return clock{epoch: read(), read: read}
}

func (c clock) now() int64 {
	if c.read == nil {
		return int64(time.Since(c.epoch))
	}
	return int64(c.read().Sub(c.epoch))
}
