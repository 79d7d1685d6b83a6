package exporter

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestRedactTarget(t *testing.T) {
	for target, want := range map[string]string{
		"http://127.0.0.1:9293/stats?token=s3cret":                       "http://127.0.0.1:9293/stats?token=xxxxx",
		"http://poolwatch:s3cret@127.0.0.1:8081/manager/status?XML=true": "http://poolwatch:xxxxx@127.0.0.1:8081/manager/status?XML=xxxxx",
		"tcp://127.0.0.1:1717":                                           "tcp://127.0.0.1:1717",
		"unix:///run/uwsgi/stats.sock":                                   "unix:///run/uwsgi/stats.sock",
		"http://[::1":                                                    "(unparsable target)",
	} {
		if got := RedactTarget(target); got != want {
			t.Errorf("RedactTarget(%q) = %q, want %q", target, got, want)
		}
	}
}

// A failed GET names its URL in the error; the token in it must not reach the log.
func TestRedactError(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, err := Fetch(context.Background(), client, "http://u:pw@127.0.0.1:1/stats?token=s3cret", MaxBodyBytes)
	if err == nil {
		t.Fatal("GET of a closed port succeeded")
	}
	msg := RedactError(err)
	if strings.Contains(msg, "s3cret") || strings.Contains(msg, "pw@") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("RedactError = %q", msg)
	}
}

// url.Error quotes its URL with %q: a token with a character that quoting escapes must not
// slip past the redaction.
func TestRedactErrorQuotedURL(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, token := range []string{`s3"cret`, `s3\cret`, "s3\u00a0cret"} {
		_, err := Fetch(context.Background(), client, "http://127.0.0.1:1/stats?token="+token, MaxBodyBytes)
		if err == nil {
			t.Fatal("GET of a closed port succeeded")
		}
		if msg := RedactError(err); strings.Contains(msg, "s3") || !strings.Contains(msg, "token=xxxxx") {
			t.Errorf("RedactError = %q", msg)
		}
	}
}
