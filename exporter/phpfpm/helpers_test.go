package phpfpm

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/poolwatch/poolwatch/exporter"
)

func goleakMain(m *testing.M) { goleak.VerifyTestMain(m) }

// want checks the four gauges; queued < 0 means "absent".
func want(t *testing.T, p exporter.Pool, max, workers, busy, queued float64) {
	t.Helper()
	gotQueued := -1.0
	if !p.QueueNotMeasured {
		gotQueued = p.QueuedTasks
	}
	if p.MaxWorkers != max || p.Workers != workers || p.BusyWorkers != busy || gotQueued != queued {
		t.Errorf("pool %s, want max %v workers %v busy %v queued %v", describe(p), max, workers, busy, queued)
	}
}

func describe(p exporter.Pool) string {
	return fmt.Sprintf("%q: max %v workers %v busy %v queued %v/%v completed %v oldest running %v",
		p.Name, p.MaxWorkers, p.Workers, p.BusyWorkers, queued(p), deref(p.MaxQueuedTasks),
		p.TasksCompletedTotal, deref(p.OldestRunningTaskAgeSeconds))
}

func deref(v *float64) string {
	if v == nil {
		return "absent"
	}
	return fmt.Sprint(*v)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func queued(p exporter.Pool) string {
	if p.QueueNotMeasured {
		return "absent"
	}
	return fmt.Sprint(p.QueuedTasks)
}
