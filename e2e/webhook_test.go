package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// webhookMessage is the part of Alertmanager's webhook payload (version 4) the test reads.
type webhookMessage struct {
	Version  string `json:"version"`
	Status   string `json:"status"`
	Receiver string `json:"receiver"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
	} `json:"alerts"`
}

// receivedAlert is one firing alert as it reached the webhook.
type receivedAlert struct {
	At          time.Time // when the webhook received it
	StartsAt    time.Time // when Prometheus says it started firing
	Receiver    string    // the Alertmanager receiver that sent it, i.e. the route it took
	Labels      map[string]string
	Summary     string
	Description string
}

// webhook plays the on-call engineer's pager: an HTTP server Alertmanager posts to. It keeps
// every firing alert it is sent, in order of arrival, and signals each arrival on a channel.
type webhook struct {
	server  *httptest.Server
	arrived chan struct{} // one buffered token: "something new arrived"

	mu     sync.Mutex
	alerts []receivedAlert
	errs   []string // malformed requests; a working Alertmanager sends none
	seen   int      // how many alerts unseen has returned
}

// newWebhook starts the receiver on a loopback port and closes it when the test ends.
func newWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{arrived: make(chan struct{}, 1)}
	w.server = httptest.NewServer(http.HandlerFunc(w.serveHTTP))
	t.Cleanup(w.server.Close)
	return w
}

// URL returns the address to configure in Alertmanager for the given path.
func (w *webhook) URL(path string) string { return w.server.URL + path }

func (w *webhook) serveHTTP(rw http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var msg webhookMessage
	if err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, 1<<20)).Decode(&msg); err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, r.URL.Path+": "+err.Error())
		w.mu.Unlock()
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	for _, a := range msg.Alerts {
		if a.Status != "firing" {
			continue
		}
		w.alerts = append(w.alerts, receivedAlert{
			At: now, StartsAt: a.StartsAt, Receiver: msg.Receiver,
			Labels: a.Labels, Summary: a.Annotations["summary"], Description: a.Annotations["description"],
		})
	}
	w.mu.Unlock()
	select {
	case w.arrived <- struct{}{}:
	default:
	}
	rw.WriteHeader(http.StatusOK)
}

// first returns the earliest alert that reached the webhook and matches every label in want.
func (w *webhook) first(want map[string]string) (receivedAlert, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.alerts {
		if matches(a.Labels, want) {
			return a, true
		}
	}
	return receivedAlert{}, false
}

// all returns a copy of every alert received so far, and the malformed requests.
func (w *webhook) all() ([]receivedAlert, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]receivedAlert(nil), w.alerts...), append([]string(nil), w.errs...)
}

// matches reports whether labels has every name=value in want.
func matches(labels, want map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// unseen returns the alerts received since its previous call, for the progress log.
func (w *webhook) unseen() []receivedAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	fresh := append([]receivedAlert(nil), w.alerts[w.seen:]...)
	w.seen = len(w.alerts)
	return fresh
}
