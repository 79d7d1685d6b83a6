package collector

import (
	"context"
	"errors"

	"github.com/poolwatch/poolwatch/internal/contract"
)

// Outcome is how a task that ran ended: the "outcome" label of
// workerpool_tasks_completed_total.
type Outcome uint8

// The outcomes, in the order of contract.Outcomes.
const (
	OutcomeSuccess Outcome = iota // the task returned nil
	OutcomeError                  // the task returned an error (or an HTTP handler answered 5xx)
	OutcomePanic                  // the task panicked
	numOutcomes
)

// String returns the label value of o.
func (o Outcome) String() string {
	if o >= numOutcomes {
		return "unknown"
	}
	return contract.Outcomes[o]
}

// OutcomeOf maps a task's returned error to its outcome: success for nil, error otherwise.
func OutcomeOf(err error) Outcome {
	if err != nil {
		return OutcomeError
	}
	return OutcomeSuccess
}

// Reason is why a task never ran: the "reason" label of workerpool_tasks_rejected_total.
type Reason uint8

// The reasons, in the order of contract.Reasons.
const (
	RejectedQueueFull Reason = iota // refused on arrival: the queue was at capacity
	RejectedTimeout                 // its deadline passed while it waited
	RejectedCanceled                // its context was canceled (or its client left) while it waited
	RejectedClosed                  // the pool shut down before it could run
	numReasons
)

// String returns the label value of r.
func (r Reason) String() string {
	if r >= numReasons {
		return "unknown"
	}
	return contract.Reasons[r]
}

// ReasonOf maps the error of a context that ended while a task waited to its reason:
// timeout for context.DeadlineExceeded, canceled for anything else.
func ReasonOf(err error) Reason {
	if errors.Is(err, context.DeadlineExceeded) {
		return RejectedTimeout
	}
	return RejectedCanceled
}
