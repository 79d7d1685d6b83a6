package collector

import (
	"context"
	"testing"
	"time"
)

// shutdown stops a pool at the end of a test; a pool that cannot drain within the deadline
// is a failure (and goleak would report its workers anyway).
func shutdown(t testing.TB, p *Pool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Errorf("shutdown %s: %v", p.Name(), err)
	}
}
