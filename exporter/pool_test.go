package exporter

import (
	"errors"
	"math"
	"testing"
)

func validPool() Pool {
	return Pool{Name: "127.0.0.1:8080", MaxWorkers: 4, Workers: 4, BusyWorkers: 2, QueuedTasks: 1,
		TasksCompletedTotal: map[string]float64{"success": 3}, BusySecondsTotal: Float(1.5),
		OldestRunningTaskAgeSeconds: Float(0.2)}
}

func TestPoolValidate(t *testing.T) {
	if p := validPool(); p.Validate() != nil {
		t.Fatal(p.Validate())
	}
	for name, mutate := range map[string]func(*Pool){
		"empty name":            func(p *Pool) { p.Name = "" },
		"name not utf-8":        func(p *Pool) { p.Name = "\xff" },
		"busy above workers":    func(p *Pool) { p.BusyWorkers = 5 },
		"workers above max":     func(p *Pool) { p.Workers = 5 },
		"negative queue":        func(p *Pool) { p.QueuedTasks = -1 },
		"NaN busy":              func(p *Pool) { p.BusyWorkers = math.NaN() },
		"infinite max":          func(p *Pool) { p.MaxWorkers = math.Inf(1); p.Workers = math.Inf(1) },
		"queue above capacity":  func(p *Pool) { p.MaxQueuedTasks = Float(0) },
		"negative busy seconds": func(p *Pool) { p.BusySecondsTotal = Float(-1) },
		"negative oldest":       func(p *Pool) { p.OldestRunningTaskAgeSeconds = Float(-0.1) },
		"unknown outcome":       func(p *Pool) { p.TasksCompletedTotal["oops"] = 1 },
		"unknown reason":        func(p *Pool) { p.TasksRejectedTotal = map[string]float64{"full": 1} },
		"negative completed":    func(p *Pool) { p.TasksCompletedTotal["success"] = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			p := validPool()
			mutate(&p)
			if err := p.Validate(); !errors.Is(err, ErrInvalidPool) {
				t.Errorf("Validate() = %v, want ErrInvalidPool", err)
			}
		})
	}
}
