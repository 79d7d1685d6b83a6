package collector

import "errors"

// Sentinel errors, to be tested with errors.Is.
var (
	// ErrQueueFull is returned by Pool.TrySubmit when every worker is busy and the queue is
	// at its capacity. The task is counted rejected with reason "queue_full".
	ErrQueueFull = errors.New("collector: pool queue is full")
	// ErrPoolClosed is returned when a task is submitted to a Pool after Shutdown began.
	// The task is counted rejected "closed".
	ErrPoolClosed = errors.New("collector: pool is closed")
)
