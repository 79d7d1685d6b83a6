package collector

// Ticket follows one task through a Tracker, from Submit to Finish or Reject. It is a small
// value: keep it with the task (in its closure or struct); it allocates nothing. Each method
// acts once and only in the right state (Start on a queued ticket, Finish on a started one,
// Reject on a queued one); a call out of order, a second call or a call on a copy whose
// original already moved on is ignored, so a misuse cannot corrupt the pool's numbers.
// A Ticket is used by one goroutine at a time. A closure that calls its methods holds it by
// reference, which costs the ticket an allocation of its own; copy it first (k := k inside
// the closure) and the closure holds it by value instead.
type Ticket struct {
	tr        *Tracker
	submitted int64
	started   int64
	slot      int32
	gen       uint32
	state     ticketState
}

type ticketState uint8

const (
	ticketDone ticketState = iota // also the zero Ticket: every call is ignored
	ticketQueued
	ticketRunning
)

// Start records that a worker began running the task; its queue wait is observed now.
func (k *Ticket) Start() {
	if k.state != ticketQueued {
		return
	}
	t := k.tr
	now := t.clock.now()
	t.mu.Lock()
	t.startLocked(k, now)
	t.mu.Unlock()
}

// Finish records that the task ended with outcome o; its duration is observed now.
func (k *Ticket) Finish(o Outcome) {
	if k.state != ticketRunning {
		return
	}
	t := k.tr
	now := t.clock.now()
	t.mu.Lock()
	t.finishLocked(k, o, now)
	t.mu.Unlock()
}

// Done is Finish with the outcome of the task's error: success for nil, error otherwise.
func (k *Ticket) Done(err error) { k.Finish(OutcomeOf(err)) }

// Reject records that the queued task will never run, for reason r (see ReasonOf for a task
// whose context ended while it waited).
func (k *Ticket) Reject(r Reason) {
	if k.state != ticketQueued {
		return
	}
	t := k.tr
	t.mu.Lock()
	t.abandonLocked(k, r)
	t.mu.Unlock()
}

// Run starts the task, calls fn and finishes it with fn's outcome. If fn panics, Run counts
// outcome panic and panics again with the same value, so that the pool's own recovery (pond's,
// for example) still sees it.
func (k *Ticket) Run(fn func() error) error {
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
