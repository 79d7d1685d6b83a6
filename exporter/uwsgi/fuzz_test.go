package uwsgi

import (
	"testing"
	"time"
)

// FuzzParse feeds Parse mutations of the real captures: it must never panic, and a pool it
// returns must satisfy the contract's invariants.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"idle.json", "saturated.json"} {
		f.Add(load(f, name))
	}
	f.Add([]byte(`{"workers":[{"status":"idle","requests":0,"cores":[{"in_request":0}]}]}`))
	now := time.Unix(1795975000, 0)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "127.0.0.1:1717", now)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid pool: %v", err)
		}
		if p.MaxWorkers == 0 || p.OldestRunningTaskAgeSeconds == nil {
			t.Fatalf("pool without capacity or age: %+v", p)
		}
	})
}
