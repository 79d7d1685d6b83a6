// Package tomcat is poolwatch_exporter's source for Apache Tomcat: it reads the manager's
// status page in XML (/manager/status?XML=true, tomcat10-admin's manager with a user in the
// manager-status role) and reports one pool per connector, per the "Tomcat" table of the
// README.
//
// The status page is served by a connector's threads like any other request: the
// recommended setup gives it a small connector of its own (examples/tomcat/server.xml), so
// that it answers while the application's connector is exhausted. That connector is a pool
// too, and shows the status request itself as busy.
package tomcat

import (
	"context"
	"log/slog"
	"net/url"
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
	if err := exporter.CheckTargetURL(target); err != nil {
		return err
	}
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	if !strings.EqualFold(u.Query().Get("XML"), "true") {
		return errorf("target %q: want the manager's XML status, e.g. http://127.0.0.1:8081/manager/status?XML=true", u.Redacted())
	}
	return nil
}

// Read implements [exporter.Source]: one GET of target, parsed by [Parse]. Connectors and
// series left out are logged with the reason.
func (Source) Read(ctx context.Context, r exporter.Reader, target string, logger *slog.Logger) ([]exporter.Pool, error) {
	body, err := r.Get(ctx, target)
	if err != nil {
		return nil, err
	}
	pools, skipped, err := Parse(body)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		logger.Warn("leaving out part of the Tomcat status", "err", s)
	}
	return pools, nil
}
