package collector_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"

	"github.com/poolwatch/poolwatch/collector"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// A Limiter shared by the handlers of a ServeMux names the route that holds its slots: the
// pattern each request matched. Here three requests of one slow route run at once.
func ExampleLimiter_routes() {
	api := collector.NewLimiter("api", 8)
	release := make(chan struct{})
	var running sync.WaitGroup
	slow := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { running.Done(); <-release })
	mux := http.NewServeMux()
	mux.Handle("GET /reports/{id}", api.Wrap(slow)) // wrap the handlers: r.Pattern is set
	mux.Handle("GET /health", api.Wrap(http.NotFoundHandler()))

	var done sync.WaitGroup
	for _, id := range []string{"1", "2", "3"} {
		running.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/reports/"+id, nil))
		}()
	}
	running.Wait()
	out, _ := testutil.CollectAndFormat(api, expfmt.TypeTextPlain, "workerpool_route_busy_workers")
	fmt.Print(string(out))
	close(release)
	done.Wait()
	// Output:
	// # HELP workerpool_route_busy_workers Workers running a task (a request) of this route now; routes beyond the top ones are summed into route "other".
	// # TYPE workerpool_route_busy_workers gauge
	// workerpool_route_busy_workers{pool="api",route="GET /reports/{id}"} 3
}
