package exporter

import (
	"net/http"
	"strconv"
	"time"
)

// scrapeTimeoutOffset is kept free of the scrape's timeout for writing the answer, as
// blackbox_exporter does, so that Prometheus gets poolwatch_up 0 rather than a timeout.
const scrapeTimeoutOffset = 500 * time.Millisecond

// ScrapeTimeout is how long a read for request r may take: Prometheus'
// X-Prometheus-Scrape-Timeout-Seconds minus a small offset (but never less than half of it),
// capped by limit. Without a usable header it is limit.
func ScrapeTimeout(r *http.Request, limit time.Duration) time.Duration {
	header := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds")
	if header == "" {
		return limit
	}
	seconds, err := strconv.ParseFloat(header, 64)
	if err != nil || !(seconds > 0) || seconds > 1e6 {
		return limit
	}
	scrape := time.Duration(seconds * float64(time.Second))
	t := max(scrape-scrapeTimeoutOffset, scrape/2)
	return min(t, limit)
}
