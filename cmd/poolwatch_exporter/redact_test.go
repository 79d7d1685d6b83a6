package main

import (
	"strings"
	"testing"

	"github.com/poolwatch/poolwatch/exporter"
)

// A target refused by its source is named in the error, which is logged and, on a failed
// reload, returned by /-/reload: a password or a token in it must not be.
func TestRefusedTargetErrorsHideSecrets(t *testing.T) {
	for name, source := range sources {
		for _, target := range []string{
			"ftp://u:s3cret@127.0.0.1:9293/stats?token=s3cret",                // no http(s)
			"http://u:s3cret@127.0.0.1:9293/stat?token=s3cret",                // Puma: not /stats
			"http://u:s3cret@127.0.0.1:8081/manager/status?token=s3cret",      // Tomcat: no XML=true
			"http://u:s3cret@127.0.0.1:9001/status?token=s3cret&max_children", // PHP-FPM: no capacity
			"http://u:s3cret@[::1/stats?token=s3cret",                         // unparsable
			`http://127.0.0.1:9293/stat?token=s3cret"`,                        // quoted with an escape
		} {
			err := exporter.CheckTarget(source, target)
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: CheckTarget(%q) = %q: the secret is in the error", name, target, err)
			}
		}
	}
}
