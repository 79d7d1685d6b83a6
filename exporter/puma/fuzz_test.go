package puma

import "testing"

// FuzzParse feeds Parse mutations of the real captures: it must never panic, and every pool
// it returns must satisfy the contract's invariants.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"single-idle.json", "single-saturated.json", "cluster-saturated.json"} {
		f.Add(load(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pools, _, err := Parse(data, "127.0.0.1:9293")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range pools {
			if err := p.Validate(); err != nil {
				t.Fatalf("Parse returned an invalid pool: %v", err)
			}
			if seen[p.Name] {
				t.Logf("pool %q twice (the collector drops the second)", p.Name)
			}
			seen[p.Name] = true
		}
	})
}
