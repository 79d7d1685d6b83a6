package tomcat

import "testing"

// FuzzParse feeds Parse mutations of the real captures: it must never panic, and every pool
// it returns must satisfy the contract's invariants.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"idle.xml", "saturated.xml", "executor.xml"} {
		f.Add(load(f, name), uint16(0))
	}
	f.Add(load(f, "executor.xml"), uint16(4))
	f.Fuzz(func(t *testing.T, data []byte, executorMaxThreads uint16) {
		pools, _, err := Parse(data, float64(executorMaxThreads))
		if err != nil {
			return
		}
		for _, p := range pools {
			if err := p.Validate(); err != nil {
				t.Fatalf("Parse returned an invalid pool: %v", err)
			}
			if !p.QueueNotMeasured {
				t.Fatalf("pool %q claims a queue the page does not show", p.Name)
			}
		}
	})
}
