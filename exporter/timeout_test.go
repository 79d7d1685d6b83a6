package exporter

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestScrapeTimeout(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"":      5 * time.Second,                           // no header: the limit
		"10":    5 * time.Second,                           // capped by the limit
		"3":     2500 * time.Millisecond,                   // minus the offset
		"0.8":   400 * time.Millisecond,                    // never less than half the scrape's
		"4.75":  4250 * time.Millisecond,                   // fractional seconds
		"abc":   5 * time.Second,                           // unusable: the limit
		"-1":    5 * time.Second,                           //
		"0":     5 * time.Second,                           //
		"NaN":   5 * time.Second,                           //
		"1e300": 5 * time.Second,                           //
		"5.5":   5 * time.Second,                           // 5.0 after the offset: equal to the limit
		"1":     time.Duration(0.5 * float64(time.Second)), // half of it equals minus the offset
	} {
		r := httptest.NewRequest("GET", "/probe", nil)
		if header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
		}
		if got := ScrapeTimeout(r, 5*time.Second); got != want {
			t.Errorf("header %q: %v, want %v", header, got, want)
		}
	}
}
