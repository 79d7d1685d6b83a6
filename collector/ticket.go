package collector

// Ticket names one task that a Tracker follows from Submit to Finish or Reject. It holds no
// state of its own: the task's state (queued or running, and since when) lives in the
// Tracker, in a slot that the Ticket names by index and generation. Copies of a Ticket are
// therefore the same ticket: whichever copy calls Start starts the task, any copy can then
// finish it, and each step happens once. A closure can capture a Ticket as it is (it is never
// modified, so the closure holds it by value and it costs no allocation).
//
// Each method acts only in the right state (Start on a queued task, Finish on a running one,
// Reject on a queued one) and reports whether it did; a call out of order, a second call, a
// call on a Ticket whose task has already ended, or on the zero Ticket is ignored, so a misuse
// cannot corrupt the pool's numbers. A Ticket may be used from any goroutine.
type Ticket struct {
	tr  *Tracker
	ref uint32 // shard index << slotBits | slot index
	gen uint32 // the slot's generation when the task took it
}

// Start records that a worker began running the task; its queue wait is observed now.
func (k Ticket) Start() bool {
	if k.tr == nil {
		return false
	}
	return k.tr.start(k, k.tr.clock.now())
}

// Finish records that the task ended with outcome o; its duration is observed now.
func (k Ticket) Finish(o Outcome) bool {
	if k.tr == nil {
		return false
	}
	return k.tr.finish(k, o, k.tr.clock.now())
}

// Done is Finish with the outcome of the task's error: success for nil, error otherwise.
func (k Ticket) Done(err error) bool { return k.Finish(OutcomeOf(err)) }

// Reject records that the queued task will never run, for reason r (see ReasonOf for a task
// whose context ended while it waited).
func (k Ticket) Reject(r Reason) bool {
	if k.tr == nil {
		return false
	}
	return k.tr.abandon(k, r)
}

// Run starts the task, calls fn and finishes it with fn's outcome. If fn panics, Run counts
// outcome panic and panics again with the same value, so that the pool's own recovery (pond's,
// for example) still sees it.
func (k Ticket) Run(fn func() error) error {
	k.Start()
	panicked := true
	defer func() {
		if panicked {
			k.Finish(OutcomePanic)
		}
	}()
	err := fn()
	panicked = false
	k.Done(err)
	return err
}
