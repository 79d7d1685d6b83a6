package cherrypy

import (
	"sort"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/poolwatch/poolwatch/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func itoa(i int) string { return strconv.Itoa(i) }

// sortMainFirst orders pools by decreasing worker count, then name: the main server first.
func sortMainFirst(p []exporter.Pool) {
	sort.Slice(p, func(i, j int) bool {
		if p[i].Workers != p[j].Workers {
			return p[i].Workers > p[j].Workers
		}
		return p[i].Name < p[j].Name
	})
}
