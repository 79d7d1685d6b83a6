package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolwatch/poolwatch/collector"
	"github.com/poolwatch/poolwatch/internal/testproc"
)

// nativeJob scrapes a collector.Pool built WithNativeHistograms, served by the test: the pool
// a user builds to have Prometheus 3 store native histograms.
const nativeJob = "poolwatch-native"

// startNativePool serves a pool of 4 workers with native histograms on a loopback port and
// keeps it ~50% busy (20 tasks a second of 100 ms) until the test ends; some tasks wait, so
// its wait histogram has observations on both sides of 1 ms. It returns host:port.
func startNativePool(t *testing.T) string {
	t.Helper()
	pool := collector.NewPool("native", 4, collector.WithQueueSize(64), collector.WithNativeHistograms(1.1))
	reg := prometheus.NewRegistry()
	reg.MustRegister(pool)
	srv := &http.Server{
		Handler:           promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	l, err := net.Listen("tcp", testproc.HostPort(testproc.FreePort(t)))
	if err != nil {
		t.Fatalf("listen for the native pool: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = srv.Serve(l)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = pool.TrySubmit(func(ctx context.Context) error {
					time.Sleep(100 * time.Millisecond)
					return nil
				})
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		sctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		_ = srv.Shutdown(sctx)
		_ = pool.Shutdown(sctx)
		wg.Wait()
	})
	return l.Addr().String()
}

// checkNativePool asserts that the rules read the native pool's histograms: the wait
// quantiles, the per-pool objective and every objective ratio are recorded for it. With
// native scraping, it also asserts that Prometheus stored the native histogram and no classic
// bucket, so the rules answered from native histograms alone.
func checkNativePool(t *testing.T, api promAPI, native bool) {
	t.Helper()
	ctx := context.Background()
	sel := fmt.Sprintf(`{job=%q, __name__=~"pool:workerpool_task_(wait|duration)_seconds:.+"}`, nativeJob)
	recorded, err := api.query(ctx, "count by (__name__) ("+sel+")")
	if err != nil {
		t.Errorf("recorded wait series of the native pool: %v", err)
		return
	}
	var names []string
	for _, s := range recorded {
		names = append(names, s.Metric["__name__"])
	}
	sort.Strings(names)
	var want []string
	for _, kind := range []string{":p50_", ":p90_", ":p99_", ":objective", ":over_objective_ratio_", ":mean_"} {
		found := false
		for _, n := range names {
			found = found || strings.Contains(n, kind)
		}
		if !found {
			want = append(want, kind)
		}
	}
	if len(want) > 0 {
		t.Errorf("the native pool lacks recorded series %v; it has %v", want, names)
	}
	if !native {
		t.Logf("native pool (classic scrape): recorded %s", strings.Join(names, " "))
		return
	}
	for q, wantN := range map[string]bool{
		fmt.Sprintf(`count(workerpool_task_wait_seconds{job=%q})`, nativeJob):        true,
		fmt.Sprintf(`count(workerpool_task_wait_seconds_bucket{job=%q})`, nativeJob): false,
	} {
		got, err := api.query(ctx, q)
		if err != nil || (len(got) > 0) != wantN {
			t.Errorf("%s: got %d series (%v), want present=%v", q, len(got), err, wantN)
		}
	}
	t.Logf("native pool (native histograms only): recorded %s", strings.Join(names, " "))
}
