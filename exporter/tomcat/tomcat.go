// Package tomcat is poolwatch_exporter's source for Apache Tomcat: it reads the manager's
// status page in XML (/manager/status?XML=true, tomcat10-admin's manager with a user in the
// manager-status role) and reports one pool per connector, per the "Tomcat" table of the
// README.
//
// The status page is served by a connector's threads like any other request: the
// recommended setup gives it a small connector of its own (examples/tomcat/server.xml), so
// that it answers while the application's connector is exhausted. That connector is a pool
// too, and shows the status request itself as busy.
//
// A connector on a shared <Executor> shows maxThreads -1: the target then states the
// executor's maxThreads itself, http://127.0.0.1:8081/manager/status?XML=true&executor_max_threads=200.
package tomcat

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/poolwatch/poolwatch/exporter"
)

// Name is the source label value and the source name in the exporter's configuration.
const Name = "tomcat"

// Source reads Tomcat's manager status XML. The zero value is ready to use.
type Source struct{}

// Name implements [exporter.Source].
func (Source) Name() string { return Name }

// CheckTarget reports whether target is an http(s) URL that asks for the XML status page.
// Without XML=true the manager answers HTML, which would fail every read.
func (Source) CheckTarget(target string) error {
	_, _, err := parseTarget(target)
	return err
}

// Read implements [exporter.Source]: one GET of target, parsed by [Parse]. Connectors and
// series left out are logged with the reason.
func (Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	page, executorMaxThreads, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	body, err := r.Get(ctx, page)
	if err != nil {
		return nil, err
	}
	pools, skipped, err := Parse(body, executorMaxThreads)
	if err != nil {
		return nil, err
	}
	exporter.WarnSkipped(logger, "leaving out part of the Tomcat status", skipped)
	return pools, nil
}

// parseTarget checks target and returns the status page's URL and the executor_max_threads
// it states (0 if none). executor_max_threads is the exporter's, not Tomcat's: it is the
// maxThreads of the <Executor> the connectors share, which the page does not show, and is
// taken off the URL that is read.
func parseTarget(target string) (page string, executorMaxThreads float64, err error) {
	if err := exporter.CheckTargetURL(target); err != nil {
		return "", 0, err
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", 0, err
	}
	q := u.Query()
	if !strings.EqualFold(q.Get("XML"), "true") {
		return "", 0, errorf("target %q: want the manager's XML status, e.g. http://127.0.0.1:8081/manager/status?XML=true", u.Redacted())
	}
	if !q.Has("executor_max_threads") {
		return target, 0, nil
	}
	n, err := strconv.ParseUint(q.Get("executor_max_threads"), 10, 31)
	if err != nil || n == 0 {
		return "", 0, errorf("target %q: executor_max_threads is not a positive number", u.Redacted())
	}
	q.Del("executor_max_threads")
	u.RawQuery = q.Encode()
	return u.String(), float64(n), nil
}
